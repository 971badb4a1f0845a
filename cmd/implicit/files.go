package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/implicitlab/implicit/internal/atomicfile"
)

// maxModelFile is the largest model file or training state the commands
// read: 256 MiB, the training state (the parameters and Adam's two
// moments, as float64s: 201 MB) of the largest model training makes
// (models.MaxParams, 2²³ parameters) with room to spare. A larger regular
// file is refused by its size, unread; a stream that never ends (--model
// /dev/zero) is an error naming the limit once that much is read (0.8 s
// and 290 MB here).
const maxModelFile = 256 << 20

// readModelFile reads a model file or training state within maxModelFile.
func readModelFile(path string) ([]byte, error) {
	return readFileLimit(path, maxModelFile)
}

// readFileLimit reads the file at path if it holds at most limit bytes.
func readFileLimit(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		if st.Size() > limit {
			return nil, fmt.Errorf("%s: %d bytes, over the limit of %d bytes for a model file", path, st.Size(), limit)
		}
		var buf bytes.Buffer
		buf.Grow(int(st.Size()) + 1) // one allocation; +1 to see the end
		if _, err := buf.ReadFrom(io.LimitReader(f, limit+1)); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if int64(buf.Len()) > limit { // it grew as it was read
			return nil, fmt.Errorf("%s: more than %d bytes, the limit for a model file", path, limit)
		}
		return buf.Bytes(), nil
	}
	// A stream of unknown length, in chunks, so that one that never ends
	// costs the limit, not the doubling of a growing buffer.
	var chunks [][]byte
	total := 0
	for {
		c := make([]byte, 1<<20)
		n, err := io.ReadFull(f, c)
		if total += n; int64(total) > limit {
			return nil, fmt.Errorf("%s: more than %d bytes, the limit for a model file", path, limit)
		}
		chunks = append(chunks, c[:n])
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return bytes.Join(chunks, nil), nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
}

// checkOutputs reports the first path whose directory does not exist,
// before a command's work, so that a typo in --out costs nothing.
func checkOutputs(paths ...string) error {
	for _, p := range paths {
		if p == "" || p == "-" {
			continue
		}
		if err := atomicfile.CheckDir(p); err != nil {
			return err
		}
	}
	return nil
}

// writeJSON prints v as indented JSON, the --json output of the commands.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
