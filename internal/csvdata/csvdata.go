// Package csvdata reads and writes matrices of numbers as comma-separated
// text: one sample a line, no header, the format of `implicit infer`.
package csvdata

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// ErrSyntax wraps every complaint about the text of a CSV input.
var ErrSyntax = errors.New("bad CSV input")

// ErrTooLarge wraps every complaint about a CSV input over the limits.
var ErrTooLarge = errors.New("CSV input too large")

// The limits of Read, checked as it reads, before the memory they bound is
// allocated: an input over one is an error naming it (wrapping
// [ErrTooLarge]), however long the input goes on (/dev/zero, a runaway
// pipe).
const (
	// MaxBytes is the longest input, 256 MiB of text.
	MaxBytes = 1 << 28
	// MaxColumns is the largest number of values a line (a 256×256 image).
	MaxColumns = 1 << 16
	// MaxValues is the largest number of values in all, 2²⁵ (268 MB as
	// float64s); the rows are at most MaxValues over the columns.
	MaxValues = 1 << 25
)

// maxValues is MaxValues, lowered by a test.
var maxValues = MaxValues

// Read reads one sample a line of comma-separated numbers. Blank lines are
// skipped. Every line must hold the same number of values, cols if cols > 0.
// Errors name the source and the line: "in.csv:3: column 2: ...".
func Read(r io.Reader, name string, cols int) (data []float64, rows int, err error) {
	lr := &limitedReader{r: r, n: MaxBytes}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 64*1024), 64*1024*1024)
	first := 0 // the line that set the column count
	// fail reports err, or, if the input was cut at MaxBytes (its last line
	// then being partial), that.
	fail := func(err error) ([]float64, int, error) {
		if lr.over {
			err = fmt.Errorf("%w: %s: more than %d bytes (csvdata.MaxBytes)", ErrTooLarge, name, MaxBytes)
		}
		return nil, 0, err
	}
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		if n := strings.Count(text, ",") + 1; n > MaxColumns {
			return fail(fmt.Errorf("%w: %s:%d: %d values, over the limit of %d a line (csvdata.MaxColumns)", ErrTooLarge, name, line, n, MaxColumns))
		}
		fields := strings.Split(text, ",")
		switch {
		case cols > 0 && first == 0 && len(fields) != cols:
			return fail(fmt.Errorf("%w: %s:%d: %d values, want %d", ErrSyntax, name, line, len(fields), cols))
		case first != 0 && len(fields) != cols:
			return fail(fmt.Errorf("%w: %s:%d: %d values, want %d (as on line %d)", ErrSyntax, name, line, len(fields), cols, first))
		case len(data)+len(fields) > maxValues:
			return fail(fmt.Errorf("%w: %s:%d: more than %d values in all (csvdata.MaxValues; %d rows of %d)", ErrTooLarge, name, line, maxValues, maxValues/len(fields), len(fields)))
		}
		if first == 0 {
			first, cols = line, len(fields)
		}
		for j, f := range fields {
			f = strings.TrimSpace(f)
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				return fail(fmt.Errorf("%w: %s:%d: column %d: %q is not a number", ErrSyntax, name, line, j+1, f))
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fail(fmt.Errorf("%w: %s:%d: column %d: %q is not a finite number", ErrSyntax, name, line, j+1, f))
			}
			data = append(data, v)
		}
		rows++
	}
	if err := sc.Err(); err != nil {
		return fail(fmt.Errorf("%s: %w", name, err))
	}
	if lr.over {
		return fail(nil)
	}
	if rows == 0 {
		return nil, 0, fmt.Errorf("%w: %s: no samples", ErrSyntax, name)
	}
	return data, rows, nil
}

// limitedReader reads at most n bytes of r, then reports whether r had
// more (over) and stops.
type limitedReader struct {
	r    io.Reader
	n    int64
	over bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// Only a byte past the limit tells an input of exactly n bytes
		// from a longer one.
		var one [1]byte
		if k, err := io.ReadFull(l.r, one[:]); k == 0 {
			return 0, err
		}
		l.over = true
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	return k, err
}

// Format writes data, cols values a row, with each number in the shortest
// form that reads back to the same float64 (at least as precise as 17
// significant digits).
func Format(data []float64, cols int) []byte {
	var b bytes.Buffer
	for i, v := range data {
		b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		if (i+1)%cols == 0 {
			b.WriteByte('\n')
		} else {
			b.WriteByte(',')
		}
	}
	return b.Bytes()
}
