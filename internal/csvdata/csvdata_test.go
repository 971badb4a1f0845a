package csvdata

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	data, rows, err := Read(strings.NewReader("1, 2.5,-3e2\n\n4,5,6\n"), "in.csv", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{1, 2.5, -300, 4, 5, 6}
	if rows != 2 || len(data) != len(want) {
		t.Fatalf("rows %d, data %v", rows, data)
	}
	for i := range want {
		if data[i] != want[i] {
			t.Errorf("value %d: %v, want %v", i, data[i], want[i])
		}
	}
}

func TestReadErrorsNameTheLine(t *testing.T) {
	for _, c := range []struct {
		in   string
		cols int
		want string
	}{
		{"1,2\n3\n", 0, "in.csv:2: 1 values, want 2 (as on line 1)"},
		{"1,2,3\n", 2, "in.csv:1: 3 values, want 2"},
		{"1,x\n", 0, `in.csv:1: column 2: "x" is not a number`},
		{"1,2\n\n1,NaN\n", 0, `in.csv:3: column 2: "NaN" is not a finite number`},
		{"1,2\n3,Inf\n", 0, `"Inf" is not a finite number`},
		{"", 0, "in.csv: no samples"},
		{"1,,2\n", 0, `column 2: "" is not a number`},
	} {
		_, _, err := Read(strings.NewReader(c.in), "in.csv", c.cols)
		if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.in, err, c.want)
		}
	}
}

func TestFormatRoundTrips(t *testing.T) {
	data := []float64{math.Pi, -1e-300, 0.1, 2, 1.0000000000000002, 123456789.123}
	b := Format(data, 3)
	got, rows, err := Read(strings.NewReader(string(b)), "out", 3)
	if err != nil || rows != 2 {
		t.Fatal(err, rows)
	}
	for i := range data {
		if got[i] != data[i] {
			t.Errorf("%v came back as %v", data[i], got[i])
		}
	}
	if !strings.HasPrefix(string(b), "3.141592653589793,") {
		t.Errorf("π written as %q", b)
	}
}

// repeat is an endless reader of s.
type repeat struct {
	s string
	i int
}

func (r *repeat) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], r.s[r.i%len(r.s):])
		n, r.i = n+k, r.i+k
	}
	return n, nil
}

// An input over a limit is an error naming the limit, however long it goes
// on, and read no further than the limit.
func TestReadLimits(t *testing.T) {
	// Endless blank lines: only the byte limit stops them.
	blank := &repeat{s: strings.Repeat(" ", 4095) + "\n"}
	if _, _, err := Read(blank, "blank", 0); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "blank: more than 268435456 bytes (csvdata.MaxBytes)") {
		t.Errorf("endless input: %v", err)
	}
	if blank.i > MaxBytes+64*1024 {
		t.Errorf("read %d bytes, past the limit of %d", blank.i, MaxBytes)
	}
	// An endless line of numbers stops at the columns' limit.
	if _, _, err := Read(&repeat{s: "0,"}, "wide", 0); err == nil || !errors.Is(err, ErrTooLarge) && !strings.Contains(err.Error(), "token too long") {
		t.Errorf("endless line: %v", err)
	}
	wide := strings.Repeat("0,", MaxColumns) + "0\n"
	if _, _, err := Read(strings.NewReader(wide), "wide.csv", 0); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "wide.csv:1: 65537 values, over the limit of 65536 a line") {
		t.Errorf("%d columns: %v", MaxColumns+1, err)
	}
	if _, _, err := Read(strings.NewReader(wide[2:]), "wide.csv", 0); err != nil {
		t.Errorf("%d columns: %v", MaxColumns, err)
	}
	defer func(v int) { maxValues = v }(maxValues)
	maxValues = 6
	if _, _, err := Read(&repeat{s: "1,2,3\n"}, "long.csv", 0); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "long.csv:3: more than 6 values in all (csvdata.MaxValues; 2 rows of 3)") {
		t.Errorf("endless rows: %v", err)
	}
	// An input of exactly the limits is read.
	if _, rows, err := Read(strings.NewReader("1,2,3\n4,5,6\n"), "in.csv", 0); err != nil || rows != 2 {
		t.Errorf("at the limit: %d rows, %v", rows, err)
	}
}
