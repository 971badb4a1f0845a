// Package models holds the models the project ships, embedded: the default
// handwritten-digits classifier that the quick start runs.
package models

import (
	_ "embed"

	"github.com/implicitlab/implicit/core"
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

// Digits returns the default digits model: 64 inputs (8×8 pixels scaled to
// [0, 1]), 10 class scores.
func Digits() (*core.Dense, error) { return core.DecodeDense(digits) }
