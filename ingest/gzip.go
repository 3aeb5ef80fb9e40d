package ingest

import (
	"bufio"
	"io"

	"github.com/klauspost/compress/gzip"
)

// maybeGunzip returns a reader of the decompressed input when r starts
// with the gzip magic bytes, else r itself (buffered).
func maybeGunzip(r io.Reader, name string) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, readBufSize)
	magic, err := br.Peek(2)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, nil, &RowError{File: name, Reason: "read: " + err.Error(), err: err}
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, &RowError{File: name, Reason: "gzip: " + err.Error(), err: err}
		}
		return zr, func() { zr.Close() }, nil
	}
	return br, func() {}, nil
}
