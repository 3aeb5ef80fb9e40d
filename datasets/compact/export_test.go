package compact

// SetBeforeCommit sets a hook run between a merge's write and its commit.
func SetBeforeCommit(f func()) { beforeCommit = f }
