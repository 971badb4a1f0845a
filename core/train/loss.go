package train

import (
	"fmt"
	"math"
	"slices"

	"github.com/implicitlab/implicit/api"
)

// Loss is a training loss on a model's outputs.
type Loss interface {
	// Loss returns the mean loss over the n samples of y (n×q) and sets
	// grad (n×q) to its gradient with respect to y. target holds what the
	// loss compares y with.
	Loss(y, target []float64, n, q int, grad []float64) (float64, error)
	// TargetLen is the number of target values one sample has.
	TargetLen(q int) int
}

// CrossEntropy is the softmax cross-entropy of class scores y against class
// labels: target holds one label, 0 ≤ label < q, a sample.
type CrossEntropy struct{}

// TargetLen is 1: the class label.
func (CrossEntropy) TargetLen(int) int { return 1 }

// Loss implements Loss.
func (CrossEntropy) Loss(y, target []float64, n, q int, grad []float64) (float64, error) {
	var total float64
	for i := 0; i < n; i++ {
		label := int(target[i])
		if float64(label) != target[i] || label < 0 || label >= q {
			return 0, fmt.Errorf("%w: sample %d has label %v (want a whole number 0 to %d)", api.ErrProblem, i, target[i], q-1)
		}
		row, g := y[i*q:(i+1)*q], grad[i*q:(i+1)*q]
		top := row[0]
		for _, v := range row {
			top = math.Max(top, v)
		}
		var sum float64
		for j, v := range row {
			g[j] = math.Exp(v - top)
			sum += g[j]
		}
		total += math.Log(sum) + top - row[label]
		for j := range g {
			g[j] /= sum * float64(n)
		}
		g[label] -= 1 / float64(n)
	}
	return total / float64(n), nil
}

// MSE is the mean over samples of the squared error ½‖y − target‖², target
// holding q values a sample.
type MSE struct{}

// TargetLen is q.
func (MSE) TargetLen(q int) int { return q }

// Loss implements Loss.
func (MSE) Loss(y, target []float64, n, _ int, grad []float64) (float64, error) {
	var total float64
	for i, v := range y {
		d := v - target[i]
		total += d * d / 2
		grad[i] = d / float64(n)
	}
	return total / float64(n), nil
}

// Accuracy returns the fraction of the rows of y (q scores each) whose
// largest score is at the label.
func Accuracy(y, labels []float64, q int) (float64, error) {
	if q <= 0 || len(labels) == 0 || len(y) != len(labels)*q {
		return 0, fmt.Errorf("%w: %d scores for %d labels of %d classes", api.ErrProblem, len(y), len(labels), q)
	}
	return float64(countCorrect(y, labels, q)) / float64(len(labels)), nil
}

// countCorrect counts the rows of y (q scores each) whose largest score is
// at the label.
func countCorrect(y, labels []float64, q int) int {
	c := 0
	for i, label := range labels {
		row := y[i*q : (i+1)*q]
		if float64(slices.Index(row, slices.Max(row))) == label {
			c++
		}
	}
	return c
}
