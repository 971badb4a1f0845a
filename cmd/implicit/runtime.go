package main

import (
	"context"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/implicitlab/implicit/core"
	"github.com/implicitlab/implicit/host"
	"github.com/implicitlab/implicit/wasm"
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
			cfg.CacheDir = moduleCacheDir(filepath.Join(dir, "implicit", "wazero"), time.Now())
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

// moduleCacheDir returns the directory under parent for the compiled code of
// this build's module, for a fast start, and removes those of other builds
// left unused for a day: each upgrade would otherwise leave some 20 MB
// behind. A day's grace spares a build that is running now.
func moduleCacheDir(parent string, now time.Time) string {
	name := fmt.Sprintf("module-%08x", crc32.ChecksumIEEE(wasm.Module()))
	entries, _ := os.ReadDir(parent)
	for _, e := range entries {
		if e.Name() == name {
			continue
		}
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > 24*time.Hour {
			_ = os.RemoveAll(filepath.Join(parent, e.Name())) // best effort: a cache
		}
	}
	dir := filepath.Join(parent, name)
	if err := os.MkdirAll(dir, 0o755); err == nil {
		_ = os.Chtimes(dir, now, now) // in use: not for another build to remove
	}
	return dir
}
