package pretrained_test

import (
	"context"
	"fmt"
	"slices"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/pretrained"
)

// Load the digits classifier and read one handwritten digit.
func Example() {
	m, err := model.Load(pretrained.Digits())
	if err != nil {
		panic(err)
	}
	// An 8×8 image of a zero, pixels 0…16, row by row.
	image := []float64{
		0, 0, 5, 13, 9, 1, 0, 0,
		0, 0, 13, 15, 10, 15, 5, 0,
		0, 3, 15, 2, 0, 11, 8, 0,
		0, 4, 12, 0, 0, 8, 8, 0,
		0, 5, 8, 0, 0, 9, 8, 0,
		0, 4, 11, 0, 1, 12, 7, 0,
		0, 2, 14, 5, 10, 12, 0, 0,
		0, 0, 6, 13, 10, 0, 0, 0,
	}
	x := make([]float64, len(image))
	for i, v := range image {
		x[i] = v / 16
	}
	out, err := m.Infer(context.Background(), x, api.Settings{}) // the model's own solver
	if err != nil {
		panic(err)
	}
	scores := out.Y // 10 scores
	fmt.Println(m.Info().Kind, "reads a", slices.Index(scores, slices.Max(scores)))
	fmt.Println("solved:", out.Result.Samples[0].Status)
	// Output:
	// deq-dense reads a 0
	// solved: converged
}
