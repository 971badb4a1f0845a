package main

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/spf13/cobra"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/internal/atomicfile"
	"github.com/implicitlab/implicit/internal/greyimage"
)

// maxRestorePixels bounds the image restore reads: 4096×4096, the largest
// side a pnp model runs (a grey image of that size is 128 MB as float64s).
const maxRestorePixels = 4096 * 4096

func newRestoreCmd() *cobra.Command {
	var (
		modelPath, inputPath, outputPath, referencePath, runtimeName string
		iters                                                        int
		fromObservation                                              bool
		sf                                                           solverFlags
	)
	cmd := &cobra.Command{
		Use:   "restore --model M.safetensors --input blurred.png --output restored.png [--iters N]",
		Short: "Restore a blurred photograph with a plug-and-play (pnp) model",
		Long: `Restore deblurs and denoises a photograph with a pnp (or pnp-explicit) model,
such as examples/imaging -model saves. The model file fixes the blur and the
denoiser; it runs on an image of any size (the same tensors for the image's
size: model.Resize), natively or sandboxed (--runtime wasm, which is given
the resized model file). A colour PNG is made grey (ITU-R BT.601 luma).

Without --iters it solves to the fixed point (--solver, --tol, --max-iter;
default tolerance 1e-4); with --iters N it runs exactly N plain iterations
y ← G(y, x). Both start from y⁰ = 0, as training does, or from the observation
with --from-observation. --reference clean.png prints the PSNR of the input
and of the output against it. A report goes to standard error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if modelPath == "" || inputPath == "" || outputPath == "" {
				return errors.New("--model, --input and --output are required")
			}
			if iters < 0 || iters > 100000 {
				return fmt.Errorf("--iters %d: want 1 to 100000 iterations (or none: the fixed point)", iters)
			}
			if err := checkOutputs(outputPath); err != nil {
				return err
			}
			settings, err := sf.settings()
			if err != nil {
				return err
			}
			if iters > 0 {
				if sf.solver != "" || sf.tol != 0 || sf.maxIter != 0 {
					return errors.New("--iters runs plain iterations: it takes no --solver, --tol or --max-iter")
				}
				settings = api.Settings{Method: &api.Picard{}, MaxIter: iters, RelTol: -1, NoTrace: true, Precision: settings.Precision}
			} else if settings.RelTol == 0 {
				settings.RelTol = 1e-4
			}
			file, err := readModelFile(modelPath)
			if err != nil {
				return err
			}
			a, err := model.Decode(file)
			if err != nil {
				return fmt.Errorf("%s: %w", modelPath, err)
			}
			if a.Kind() != "pnp" && a.Kind() != "pnp-explicit" {
				return fmt.Errorf("%s: a %s model; restore runs the pnp kinds (examples/imaging -model saves one)", modelPath, a.Kind())
			}
			obs, w, h, err := readGreyPNG(inputPath)
			if err != nil {
				return err
			}
			var ref []float64
			if referencePath != "" {
				r, rw, rh, err := readGreyPNG(referencePath)
				if err != nil {
					return err
				}
				if rw != w || rh != h {
					return fmt.Errorf("--reference %s is %d×%d, the input %d×%d", referencePath, rw, rh, w, h)
				}
				ref = r
			}
			sized, err := model.Resize(a, h, w)
			if err != nil {
				return fmt.Errorf("%s for %s (%d×%d): %w", modelPath, inputPath, w, h, err)
			}
			resized, err := model.Encode(sized, model.F64)
			if err != nil {
				return err
			}
			m, release, err := loadModel(cmd.Context(), resized, runtimeName)
			if err != nil {
				return fmt.Errorf("%s: %w", modelPath, err)
			}
			defer release()
			if fromObservation {
				settings.Init = obs
			}
			start := time.Now()
			out, err := m.Infer(cmd.Context(), obs, settings)
			if err != nil {
				return err
			}
			elapsed := time.Since(start)
			if err := writeGreyPNG(outputPath, out.Y, w, h); err != nil {
				return err
			}
			e := cmd.ErrOrStderr()
			fmt.Fprintf(e, "%s on %s (%d×%d), %s\n", describe(m.Info()), inputPath, w, h, runtimeLabel(runtimeName))
			res := out.Result
			if iters > 0 {
				fmt.Fprintf(e, "%d iterations in %.2f s\n", res.Iterations, elapsed.Seconds())
			} else {
				fmt.Fprintf(e, "%s after %d iterations (relative residual %.2g) in %.2f s\n", res.Status, res.Iterations, maxRelResidual(res), elapsed.Seconds())
				if res.Status != api.Converged {
					fmt.Fprintf(e, "warning: not converged; wrote the last iterate (raise --max-iter or --tol)\n")
				}
			}
			if ref != nil {
				fmt.Fprintf(e, "PSNR against %s: input %.2f dB, restored %.2f dB\n", referencePath, greyimage.PSNR(obs, ref), greyimage.PSNR(out.Y, ref))
			}
			fmt.Fprintf(e, "wrote %s\n", outputPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&modelPath, "model", "", "pnp model file (.safetensors)")
	cmd.Flags().StringVar(&inputPath, "input", "", "the blurred photograph (PNG)")
	cmd.Flags().StringVar(&outputPath, "output", "", "where to write the restored photograph (PNG, grey)")
	cmd.Flags().StringVar(&referencePath, "reference", "", "the clean photograph (PNG), to print PSNRs")
	cmd.Flags().IntVar(&iters, "iters", 0, "run exactly this many iterations (default: solve to the fixed point)")
	cmd.Flags().BoolVar(&fromObservation, "from-observation", false, "start from y⁰ = the observation instead of 0")
	sf.register(cmd)
	sf.registerPrecision(cmd)
	registerRuntime(cmd, &runtimeName, "native")
	return cmd
}

func maxRelResidual(r *api.Result) float64 {
	var v float64
	for _, s := range r.Samples {
		v = math.Max(v, s.RelResidual)
	}
	return v
}

// readGreyPNG reads a PNG as grey intensities in [0, 1], row by row.
func readGreyPNG(path string) ([]float64, int, int, error) {
	b, err := readFileLimit(path, maxModelFile)
	if err != nil {
		return nil, 0, 0, err
	}
	pix, w, h, err := greyimage.Decode(b, maxRestorePixels)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	if w > 4096 || h > 4096 {
		return nil, 0, 0, fmt.Errorf("%s: %d×%d pixels (want 1 to 4096 a side)", path, w, h)
	}
	return pix, w, h, nil
}

// writeGreyPNG writes the intensities, clipped to [0, 1], as an 8-bit grey
// PNG, atomically.
func writeGreyPNG(path string, pix []float64, w, h int) error {
	b, err := greyimage.Encode(pix, w, h)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b, 0o644)
}
