package datasets

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestDigits(t *testing.T) {
	s, err := Digits()
	if err != nil {
		t.Fatal(err)
	}
	if s.Train.N != 1442 || s.HoldOut.N != 355 || s.Features != 64 || s.Classes != 10 {
		t.Fatalf("train %d, hold-out %d, features %d, classes %d", s.Train.N, s.HoldOut.N, s.Features, s.Classes)
	}
	counts := make([]int, 10)
	for _, l := range s.HoldOut.Labels {
		counts[int(l)]++
	}
	for c, n := range counts {
		if n < 34 || n > 37 {
			t.Errorf("class %d has %d hold-out images", c, n)
		}
	}
	for _, v := range s.Train.X {
		if v < 0 || v > 1 {
			t.Fatalf("pixel %v outside [0, 1]", v)
		}
	}
	// The first image is a 0 (the file's first line).
	if s.Train.Labels[0] != 0 || s.Train.X[2] != 5.0/16 {
		t.Errorf("first image: label %v, pixel 2 = %v", s.Train.Labels[0], s.Train.X[2])
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load("no-such-set"); err == nil || !strings.Contains(err.Error(), "neither a built-in set") {
		t.Errorf("unknown set: %v", err)
	}
	if _, err := parseLabelled("x.csv", strings.NewReader("1,2,0.5\n"), 0); err == nil || !strings.Contains(err.Error(), "x.csv:1: label 0.5") {
		t.Errorf("fractional label: %v", err)
	}
	if _, err := parseLabelled("x.csv", strings.NewReader("1,0\n2,1\n"), 0); err == nil || !strings.Contains(err.Error(), "too few") {
		t.Errorf("two rows: %v", err)
	}
}

// The embedded copy must be the one shipped, with its licence note, in
// testdata/digits.
func TestEmbeddedDigitsMatchTestdata(t *testing.T) {
	b, err := os.ReadFile("../../testdata/digits/digits.csv.gz")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, digitsGz) {
		t.Error("internal/datasets/digits.csv.gz differs from testdata/digits/digits.csv.gz")
	}
}

// One wrong label is an error naming it and the limit, not a model of a
// trillion outputs.
func TestLabelLimit(t *testing.T) {
	for _, label := range []string{"1e12", "2e9", "65536"} {
		rows := strings.Repeat("1,0\n", 5) + "1," + label + "\n"
		_, err := parseLabelled("x.csv", strings.NewReader(rows), 0)
		if err == nil || !strings.Contains(err.Error(), "x.csv:6: label") || !strings.Contains(err.Error(), "over the limit of 65536 classes") {
			t.Errorf("label %s: %v", label, err)
		}
	}
	if s, err := parseLabelled("x.csv", strings.NewReader(strings.Repeat("1,0\n", 5)+"1,65535\n"), 0); err != nil || s.Classes != MaxClasses {
		t.Errorf("label 65535: %v", err)
	}
}
