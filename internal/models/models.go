// Package models holds the models the project ships, embedded: the default
// handwritten-digits classifier that the quick start runs.
package models

import (
	_ "embed"
	"fmt"

	"github.com/implicitlab/implicit/core/model"
)

// digits.safetensors is what `implicit train --data digits` writes with its
// defaults (monotone relu deq-dense, h = 64, 30 epochs, seed 1); the test
// retrains it and checks that it is the same model.
//
//go:generate sh -c "go run ../../cmd/implicit train --quiet --data digits --out digits.safetensors && rm digits.safetensors.state"
//go:embed digits.safetensors
var digits []byte

// DigitsFile returns the bytes of the default digits model file.
func DigitsFile() []byte { return digits }

// digits-conv.safetensors is what `implicit train --data digits --arch conv
// --epochs 10` writes (DigitsConvRecipe): the convolutional digits model the
// browser page offers.
//
//go:generate sh -c "go run ../../cmd/implicit train --quiet --data digits --arch conv --epochs 10 --out digits-conv.safetensors && rm digits-conv.safetensors.state"
//go:embed digits-conv.safetensors
var digitsConv []byte

// DigitsConvFile returns the bytes of the convolutional digits model file.
func DigitsConvFile() []byte { return digitsConv }

// Digits returns the default digits model: 64 inputs (8×8 pixels scaled to
// [0, 1]), 10 class scores.
func Digits() (*model.Dense, error) {
	a, err := model.Decode(digits)
	if err != nil {
		return nil, err
	}
	d, ok := a.(*model.Dense)
	if !ok {
		return nil, fmt.Errorf("the embedded digits model is a %s model, not deq-dense", a.Kind())
	}
	return d, nil
}
