package model_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
)

// A monotone deq-dense model has exactly one fixed point whatever its
// weights; its default solver, Peaceman-Rachford, finds it.
func ExampleModel_Infer() {
	d, err := model.NewDense(model.DenseConfig{Hidden: 16, In: 3, Out: 2, Activation: model.ReLU, Param: model.Monotone},
		rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := model.New(d)
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := m.Infer(context.Background(), []float64{0.5, -1, 2}, api.Settings{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s (%s): %d outputs, %v by %s, residual below 1e-6: %v\n", m.Info().Kind, m.Info().Description,
		len(out.Y), out.Result.Status, m.Info().Method, out.Result.RelResidual < 1e-6)
	// Output: deq-dense (monotone (m=0.5) relu, h=16): 2 outputs, converged by peaceman-rachford, residual below 1e-6: true
}

// A model file names its kind; Decode reads any kind this build knows.
func ExampleDecode() {
	mlp, err := model.NewMLP(model.MLPConfig{Hidden: 8, In: 4, Out: 3, Activation: model.Tanh}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		fmt.Println(err)
		return
	}
	file, err := model.Encode(mlp, model.F32)
	if err != nil {
		fmt.Println(err)
		return
	}
	a, err := model.Decode(file)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := model.New(a)
	if err != nil {
		fmt.Println(err)
		return
	}
	info := m.Info()
	fmt.Printf("%s: %s, %d inputs, %d outputs, %d parameters, explicit: %v\n", info.Kind, info.Description, info.In, info.Out, info.Params, info.Explicit)
	// Output: mlp: explicit tanh, h=8, 4 inputs, 3 outputs, 67 parameters, explicit: true
}

// A file of F32 tensors loads in float32, the precision its weights have;
// Settings.Precision asks for the other.
func ExampleLoad_precision() {
	d, err := model.NewDense(model.DenseConfig{Hidden: 32, In: 3, Out: 2, Activation: model.Tanh, Param: model.Monotone},
		rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		fmt.Println(err)
		return
	}
	file, err := model.Encode(d, model.F32)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := model.Load(file)
	if err != nil {
		fmt.Println(err)
		return
	}
	x := []float64{0.5, -1, 2}
	f32, err := m.Infer(context.Background(), x, api.Settings{})
	if err != nil {
		fmt.Println(err)
		return
	}
	f64, err := m.Infer(context.Background(), x, api.Settings{Precision: api.Float64})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("own precision %s; float32 and float64 outputs differ, by less than 1e-5: %v, %v\n",
		m.Precision(), f32.Y[0] != f64.Y[0], math.Abs(f32.Y[0]-f64.Y[0]) < 1e-5)
	// Output: own precision float32; float32 and float64 outputs differ, by less than 1e-5: true, true
}
