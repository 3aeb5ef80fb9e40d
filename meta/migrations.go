package meta

import (
	"context"
	"database/sql"
	"fmt"
)

// A migration takes the schema one version forward. Its version is its
// position in migrations, counting from 1.
type migration struct {
	name string
	// sql is run first (it may hold several statements), then up if set.
	sql string
	up  func(ctx context.Context, tx *sql.Tx) error
}

// migrations is the schema's history, oldest first. Append to it; never
// edit or reorder a migration that has shipped, since databases in the
// field have already applied it.
var migrations = []migration{
	{name: "keys", sql: `
		CREATE TABLE keys (
			id          TEXT PRIMARY KEY,
			secret_hash TEXT NOT NULL UNIQUE, -- SHA-256 hex of the secret; the secret is never stored
			name        TEXT NOT NULL,
			role        TEXT NOT NULL CHECK (role IN ('admin', 'member')),
			user_id     TEXT NOT NULL DEFAULT '',
			org         TEXT NOT NULL DEFAULT '',
			project     TEXT NOT NULL DEFAULT '',
			account     TEXT NOT NULL DEFAULT '',
			created_at  TEXT NOT NULL,
			revoked_at  TEXT
		);
		CREATE INDEX keys_created ON keys (created_at);
	`},
	{name: "jobs", sql: `
		CREATE TABLE jobs (
			id           TEXT PRIMARY KEY,
			kind         TEXT NOT NULL,
			owner        TEXT NOT NULL DEFAULT '',  -- key id
			tenant       TEXT NOT NULL DEFAULT '',  -- scope string of per-tenant limits; '' = admin
			state        TEXT NOT NULL CHECK (state IN ('enqueued', 'running', 'completed', 'failed', 'cancelled', 'expired')),
			error        TEXT NOT NULL DEFAULT '',
			request      TEXT,                      -- JSON the kind's handler rebuilds the work from
			result_path  TEXT NOT NULL DEFAULT '',
			result_rows  INTEGER NOT NULL DEFAULT 0,
			result_bytes INTEGER NOT NULL DEFAULT 0,
			attempts     INTEGER NOT NULL DEFAULT 0,
			created_at   TEXT NOT NULL,
			started_at   TEXT,
			finished_at  TEXT,
			expires_at   TEXT
		);
		CREATE INDEX jobs_state ON jobs (state, created_at);
		CREATE INDEX jobs_tenant ON jobs (tenant, state);
		CREATE INDEX jobs_owner ON jobs (owner, created_at);
	`},
	{name: "queries", sql: `
		CREATE TABLE queries (
			id          TEXT PRIMARY KEY,           -- lower-case UUID, the public QueryId
			name        TEXT NOT NULL,
			description TEXT NOT NULL DEFAULT '',
			query       TEXT NOT NULL,              -- the query text as given
			owner       TEXT NOT NULL DEFAULT '',   -- id of the key that created it
			user_id     TEXT NOT NULL DEFAULT '',   -- the key's user
			tenant      TEXT NOT NULL DEFAULT '',   -- the key's scope string; '' = admin
			created_at  TEXT NOT NULL,
			modified_at TEXT
		);
		CREATE INDEX queries_principal ON queries (tenant, user_id, created_at);
		CREATE INDEX queries_owner ON queries (owner, created_at);
	`},
	{name: "reports and executions", sql: `
		CREATE TABLE reports (
			id                  TEXT PRIMARY KEY,          -- lower-case UUID, the public reportId
			name                TEXT NOT NULL,
			description         TEXT NOT NULL DEFAULT '',
			query_id            TEXT NOT NULL,
			query               TEXT NOT NULL,             -- snapshot of the query text at creation
			owner               TEXT NOT NULL DEFAULT '',  -- id of the key that created it
			user_id             TEXT NOT NULL DEFAULT '',
			tenant              TEXT NOT NULL DEFAULT '',  -- the key's scope string; '' = admin
			scope               TEXT NOT NULL DEFAULT '{}',-- JSON planner.Scope every execution runs with
			created_at          TEXT NOT NULL,
			modified_at         TEXT,
			start_time          TEXT,
			recurrence_interval INTEGER NOT NULL DEFAULT 0,
			recurrence_count    INTEGER,
			end_time            TEXT,
			format              TEXT NOT NULL CHECK (format IN ('csv', 'tsv')),
			callback_url        TEXT NOT NULL DEFAULT '',
			callback_method     TEXT NOT NULL DEFAULT 'POST',
			execute_now         INTEGER NOT NULL DEFAULT 0,
			query_start_time    TEXT,
			query_end_time      TEXT,
			status              TEXT NOT NULL CHECK (status IN ('Active', 'Paused', 'Inactive'))
		);
		CREATE INDEX reports_principal ON reports (tenant, user_id, status, created_at);
		CREATE TABLE executions (
			id           TEXT PRIMARY KEY,                -- lower-case UUID, the public executionId
			report_id    TEXT NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
			job_id       TEXT NOT NULL DEFAULT '',
			status       TEXT NOT NULL CHECK (status IN ('Pending', 'Running', 'Paused', 'Completed', 'Failed')),
			error        TEXT NOT NULL DEFAULT '',
			scheduled_at TEXT NOT NULL,
			started_at   TEXT,
			finished_at  TEXT,
			result_path  TEXT NOT NULL DEFAULT '',
			result_rows  INTEGER NOT NULL DEFAULT 0,
			result_bytes INTEGER NOT NULL DEFAULT 0,
			expires_at   TEXT,                            -- reportExpiryTime: when the download link expires
			created_at   TEXT NOT NULL
		);
		CREATE INDEX executions_report ON executions (report_id, created_at);
		CREATE INDEX executions_job ON executions (job_id);
	`},
	{name: "report schedules and callbacks", sql: `
		ALTER TABLE reports ADD COLUMN last_due_at TEXT;          -- the latest due time the scheduler handled (run or skipped)
		ALTER TABLE executions ADD COLUMN callback_status TEXT;   -- Succeeded, or Failed: <reason>; NULL before the callback ends
		CREATE INDEX reports_status ON reports (status, execute_now);
	`},
	{name: "job submission rate", sql: `
		CREATE INDEX jobs_tenant_kind ON jobs (tenant, kind, created_at);
	`},
	{name: "ExecuteNow log and pending callbacks", sql: `
		-- One row per ExecuteNow report created, kept when the report is
		-- deleted: the ExecuteNow quota counts creations, not live reports.
		CREATE TABLE execute_now_log (
			report_id  TEXT NOT NULL,
			tenant     TEXT NOT NULL DEFAULT '',
			user_id    TEXT NOT NULL DEFAULT '',
			created_at TEXT NOT NULL
		);
		CREATE INDEX execute_now_log_principal ON execute_now_log (tenant, user_id, created_at);
		INSERT INTO execute_now_log (report_id, tenant, user_id, created_at)
			SELECT id, tenant, user_id, created_at FROM reports WHERE execute_now = 1;
		-- A completed execution owes its callback until callback_status is set;
		-- callback_attempts counts the calls made, across restarts.
		ALTER TABLE executions ADD COLUMN callback_pending INTEGER NOT NULL DEFAULT 0;
		ALTER TABLE executions ADD COLUMN callback_attempts INTEGER NOT NULL DEFAULT 0;
		UPDATE executions SET callback_pending = 1 WHERE status = 'Completed' AND callback_status IS NULL
			AND report_id IN (SELECT id FROM reports WHERE callback_url <> '');
		CREATE INDEX executions_callback_pending ON executions (callback_pending) WHERE callback_pending = 1;
	`},
	{name: "energy custom reports", sql: `
		-- ids are integers, as the ENERGY STAR API's xs:long ids
		CREATE TABLE energy_templates (
			id         INTEGER PRIMARY KEY AUTOINCREMENT,
			name       TEXT NOT NULL,
			metrics    TEXT NOT NULL,            -- JSON array of metric ids, in display order
			report_id  INTEGER NOT NULL,
			owner      TEXT NOT NULL DEFAULT '',
			user_id    TEXT NOT NULL DEFAULT '',
			tenant     TEXT NOT NULL DEFAULT '',  -- the key's energy account; '' for admin keys
			created_at TEXT NOT NULL,
			updated_at TEXT NOT NULL
		);
		CREATE INDEX energy_templates_principal ON energy_templates (tenant, user_id);
		CREATE TABLE energy_reports (
			id           INTEGER PRIMARY KEY AUTOINCREMENT,
			template_id  INTEGER NOT NULL,
			tenant       TEXT NOT NULL DEFAULT '',
			user_id      TEXT NOT NULL DEFAULT '',
			timeframe    TEXT NOT NULL DEFAULT '',   -- JSON (planner.Timeframe); '' until configured
			properties   TEXT NOT NULL DEFAULT '[]', -- JSON array of property ids
			status       TEXT NOT NULL CHECK (status IN ('INITIALIZED', 'SUBMITTED', 'IN_PROCESS', 'GENERATED', 'FAILED')),
			job_id       TEXT NOT NULL DEFAULT '',
			error        TEXT NOT NULL DEFAULT '',
			submitted_at TEXT,
			started_at   TEXT,
			ended_at     TEXT,
			created_at   TEXT NOT NULL,
			updated_at   TEXT NOT NULL
		);
		CREATE INDEX energy_reports_principal ON energy_reports (tenant, user_id);
		CREATE INDEX energy_reports_job ON energy_reports (job_id);
	`},
}

// SchemaVersion is the schema version this build writes: the number of
// migrations it knows.
func SchemaVersion() int { return len(migrations) }

// migrate applies the migrations the database has not seen, in one write
// transaction. BEGIN IMMEDIATE (see Open) takes the write lock first, so two
// processes opening a new directory at once do not both migrate: the second
// waits, then finds the work done.
func (s *SQLite) migrate(ctx context.Context) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL
	)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&current); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if current > len(migrations) {
		return fmt.Errorf("the metadata database is at schema version %d, newer than this quarry knows (%d): run a newer quarry", current, len(migrations))
	}
	for i := current; i < len(migrations); i++ {
		m := migrations[i]
		if m.sql != "" {
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %d (%s): %w", i+1, m.name, err)
			}
		}
		if m.up != nil {
			if err := m.up(ctx, tx); err != nil {
				return fmt.Errorf("migration %d (%s): %w", i+1, m.name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)`,
			i+1, m.name, fmtTime(s.clock())); err != nil {
			return fmt.Errorf("migration %d (%s): %w", i+1, m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
