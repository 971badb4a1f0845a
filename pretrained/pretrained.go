// Package pretrained holds the models implicit ships, trained on the
// handwritten digits (UCI, CC BY 4.0: 8×8 grey images), as safetensors
// model files to load with core/model (natively) or host (sandboxed in
// WebAssembly):
//
//	m, err := model.Load(pretrained.Digits())
//
// Both take 64 inputs, an image's pixels row by row scaled from 0…16 to
// [0, 1], and give 10 scores, one a digit; the largest is the class. Both
// were trained by implicit train with the recipes in the repository's
// internal/models, which a test retrains and compares byte for byte.
package pretrained

import (
	"bytes"

	"github.com/implicitlab/implicit/internal/models"
)

// Digits returns the default digits classifier's model file: a monotone
// relu deq-dense model, h = 64, 13,002 parameters, hold-out accuracy
// 0.9746 (`implicit train --data digits`). The bytes are a copy, the
// caller's to keep.
func Digits() []byte { return bytes.Clone(models.DigitsFile()) }

// DigitsConv returns the convolutional digits classifier's model file:
// deq-conv, C = 32, I = 16, G = 4, P = 2, 14,954 parameters, hold-out
// accuracy 0.9944 (`implicit train --data digits --arch conv --epochs 10`).
// The bytes are a copy, the caller's to keep.
func DigitsConv() []byte { return bytes.Clone(models.DigitsConvFile()) }
