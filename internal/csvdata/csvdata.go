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

// Read reads one sample a line of comma-separated numbers. Blank lines are
// skipped. Every line must hold the same number of values, cols if cols > 0.
// Errors name the source and the line: "in.csv:3: column 2: ...".
func Read(r io.Reader, name string, cols int) (data []float64, rows int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 64*1024*1024)
	first := 0 // the line that set the column count
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		fields := strings.Split(text, ",")
		switch {
		case cols > 0 && first == 0 && len(fields) != cols:
			return nil, 0, fmt.Errorf("%w: %s:%d: %d values, want %d", ErrSyntax, name, line, len(fields), cols)
		case first != 0 && len(fields) != cols:
			return nil, 0, fmt.Errorf("%w: %s:%d: %d values, want %d (as on line %d)", ErrSyntax, name, line, len(fields), cols, first)
		}
		if first == 0 {
			first, cols = line, len(fields)
		}
		for j, f := range fields {
			f = strings.TrimSpace(f)
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				return nil, 0, fmt.Errorf("%w: %s:%d: column %d: %q is not a number", ErrSyntax, name, line, j+1, f)
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, 0, fmt.Errorf("%w: %s:%d: column %d: %q is not a finite number", ErrSyntax, name, line, j+1, f)
			}
			data = append(data, v)
		}
		rows++
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", name, err)
	}
	if rows == 0 {
		return nil, 0, fmt.Errorf("%w: %s: no samples", ErrSyntax, name)
	}
	return data, rows, nil
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
