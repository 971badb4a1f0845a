package main

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/implicitlab/implicit/api"
	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/host"
	"github.com/implicitlab/implicit/wasm"
)

// runModel is what the commands need of a model: *model.Model (native)
// and *host.Model (sandboxed) both are api.Inferers.
type runModel = api.Inferer

func registerRuntime(cmd *cobra.Command, runtime *string, def string) {
	cmd.Flags().StringVar(runtime, "runtime", def, "native (in this process), or wasm (sandboxed: the engine compiled to WebAssembly, run by wazero)")
}

// openModel reads a model file and prepares it in the runtime asked for:
// natively it is decoded here, sandboxed only inside the module. release
// frees the sandbox.
func openModel(ctx context.Context, path, runtime string) (runModel, func(), error) {
	file, err := readModelFile(path)
	if err != nil {
		return nil, nil, err
	}
	m, release, err := loadModel(ctx, file, runtime)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, release, nil
}

// loadModel prepares the model file in the runtime.
func loadModel(ctx context.Context, file []byte, runtime string) (runModel, func(), error) {
	switch runtime {
	case "native":
		m, err := model.Load(file)
		return m, func() {}, err
	case "wasm":
		rt, err := newRuntime(ctx, os.Stderr, 0)
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

// newRuntime starts the sandbox, a pool of instances instances (0: the
// host's default), with the user's compilation cache if there is one. A
// cache that cannot be used (read-only, full, corrupt) costs a compilation
// and one warning to warnings, never the command.
func newRuntime(ctx context.Context, warnings io.Writer, instances int) (*host.Runtime, error) {
	cfg := host.Config{Warnings: warnings, Instances: instances}
	if dir, err := os.UserCacheDir(); err == nil {
		cfg.CacheDir = moduleCacheDir(filepath.Join(dir, "implicit", "wazero"), time.Now())
	}
	return host.New(ctx, cfg)
}

// describe names a model briefly: "deq-dense: monotone (m=0.5) relu, h=64".
func describe(info api.Info) string { return info.Kind + ": " + info.Description }

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
