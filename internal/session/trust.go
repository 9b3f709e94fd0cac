package session

import (
	"fmt"
	"io"
)

// readLimited reads at most limit bytes of the file at path from r; a file
// that holds more is invalid, never read whole (a damaged or hostile file
// must not exhaust memory). Both platforms' readTrusted end here.
func readLimited(r io.Reader, path string, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrInvalid, path, limit)
	}
	return data, nil
}
