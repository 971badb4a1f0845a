package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/implicitlab/implicit/core"
	"github.com/implicitlab/implicit/host"
)

// runModel is what the commands need of a model: *core.Model (native) and
// *host.Model (sandboxed) both have it.
type runModel interface {
	core.Inferer
	Settings(core.Settings) (core.Settings, error)
}

func registerRuntime(cmd *cobra.Command, runtime *string, def string) {
	cmd.Flags().StringVar(runtime, "runtime", def, "native (in this process), or wasm (sandboxed: core compiled to WebAssembly, run by wazero)")
}

// openModel reads and validates a model file and prepares it in the runtime
// asked for; release frees the sandbox.
func openModel(ctx context.Context, path, runtime string) (*core.Dense, runModel, func(), error) {
	file, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, nil, err
	}
	d, err := core.DecodeDense(file)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	m, release, err := loadModel(ctx, d, file, runtime)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, m, release, nil
}

// loadModel prepares the model d, whose file is file, in the runtime.
func loadModel(ctx context.Context, d *core.Dense, file []byte, runtime string) (runModel, func(), error) {
	switch runtime {
	case "native":
		m, err := core.NewModel(d)
		return m, func() {}, err
	case "wasm":
		var cfg host.Config
		if dir, err := os.UserCacheDir(); err == nil {
			cfg.CacheDir = filepath.Join(dir, "implicit", "wazero") // compiled code, for a fast start
		}
		rt, err := host.New(ctx, cfg)
		if err != nil {
			return nil, nil, err
		}
		m, err := rt.Load(ctx, file)
		if err != nil {
			rt.Close(ctx)
			return nil, nil, err
		}
		return m, func() { rt.Close(ctx) }, nil
	}
	return nil, nil, fmt.Errorf("--runtime %q: want native or wasm", runtime)
}

// runtimeLabel describes a runtime for the commands' reports.
func runtimeLabel(runtime string) string {
	if runtime == "wasm" {
		return "sandboxed: WebAssembly under wazero"
	}
	return "native"
}
