// Package datasets holds the data sets the project ships, embedded so that
// the commands and examples need no files from outside the binary, and the
// reader for labelled CSV data.
package datasets

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/implicitlab/implicit/internal/csvdata"
)

// digits.csv.gz is the UCI "Optical Recognition of Handwritten Digits" set
// as scikit-learn ships it: 1,797 images of 8×8 pixels, values 0..16, 64
// columns then the label. CC BY 4.0, Alpaydin & Kaynak; see LICENSE.digits.md.
//
//go:embed digits.csv.gz
var digitsGz []byte

// Set is a labelled data set split into training and hold-out parts.
type Set struct {
	Name     string
	Features int // p
	Classes  int // labels are 0 … Classes−1
	Train    Part
	HoldOut  Part
}

// Part is n samples, row-major, with one label each.
type Part struct {
	X      []float64
	Labels []float64
	N      int
}

// Digits returns the handwritten digits with pixels scaled to [0, 1]
// (divided by 16). The split is fixed and stratified: the 5th, 10th, 15th, …
// image of each digit, in file order, is held out (355 images); the other
// 1,442 train.
func Digits() (*Set, error) {
	zr, err := gzip.NewReader(bytes.NewReader(digitsGz))
	if err != nil {
		return nil, fmt.Errorf("digits: %w", err)
	}
	s, err := parseLabelled("digits", zr, 10)
	if err != nil {
		return nil, err
	}
	for i := range s.Train.X {
		s.Train.X[i] /= 16
	}
	for i := range s.HoldOut.X {
		s.HoldOut.X[i] /= 16
	}
	return s, nil
}

// Load returns the named built-in set ("digits") or reads a CSV file whose
// last column is the class label (0, 1, …), split like the digits: every
// fifth sample of each class is held out.
func Load(name string) (*Set, error) {
	if name == "digits" {
		return Digits()
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("data %q is neither a built-in set (digits) nor a readable file: %w", name, err)
	}
	defer f.Close()
	return parseLabelled(name, f, 0)
}

// MaxClasses is the largest number of classes of a data set: a label is a
// whole number from 0 to MaxClasses−1, so that one wrong label (1e12) is
// an error naming it, not a model of a trillion outputs.
const MaxClasses = 1 << 16

// parseLabelled reads rows of features followed by a label, within
// csvdata's limits. classes = 0 takes the number of classes from the
// largest label.
func parseLabelled(name string, r io.Reader, classes int) (*Set, error) {
	data, rows, err := csvdata.Read(r, name, 0)
	if err != nil {
		return nil, err
	}
	cols := len(data) / rows
	if cols < 2 {
		return nil, fmt.Errorf("%s: %d column a row: want features then a label", name, cols)
	}
	s := &Set{Name: name, Features: cols - 1, Classes: classes}
	seen := map[float64]int{} // samples of each class so far
	for i := 0; i < rows; i++ {
		row := data[i*cols : (i+1)*cols]
		label := row[cols-1]
		if label != math.Trunc(label) || label < 0 || (classes > 0 && label >= float64(classes)) {
			return nil, fmt.Errorf("%s:%d: label %v is not a class number", name, i+1, label)
		}
		if label >= MaxClasses {
			return nil, fmt.Errorf("%s:%d: label %v is over the limit of %d classes (labels 0 to %d; datasets.MaxClasses)", name, i+1, label, MaxClasses, MaxClasses-1)
		}
		if classes == 0 {
			s.Classes = max(s.Classes, int(label)+1)
		}
		part := &s.Train
		if seen[label]%5 == 4 {
			part = &s.HoldOut
		}
		seen[label]++
		part.X = append(part.X, row[:cols-1]...)
		part.Labels = append(part.Labels, label)
		part.N++
	}
	if s.HoldOut.N == 0 {
		return nil, fmt.Errorf("%s: %d rows: too few to hold any out (every fifth sample of a class is held out)", name, rows)
	}
	return s, nil
}
