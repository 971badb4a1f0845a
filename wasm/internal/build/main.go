// Command build compiles the implicit WebAssembly module reproducibly: the
// pinned Go toolchain, GOOS=wasip1 GOARCH=wasm, -buildmode=c-shared,
// -trimpath, no VCS stamp, no GOFLAGS from the environment, and the build
// tag implicit_kernels (the guest imports the SIMD kernels). It also
// assembles the kernels' module, kernels/kernels.wat, into kernels.wasm with
// wabt's wat2wasm (the pinned release below; Debian's package wabt). go
// generate in wasm/ runs it; with -check it rebuilds both into a temporary
// directory and fails if a committed file differs:
//
//	go run ./wasm/internal/build -check
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// toolchain is the Go release the committed module is built with. A
// different release compiles different bytes; the go command fetches this
// one if it is not the local one.
const toolchain = "go1.26.8"

// wabt is the wat2wasm release the committed kernels.wasm is assembled with.
const wabt = "1.0.32"

func main() {
	out := flag.String("o", "", "output file (default: implicit.wasm in the wasm package's directory)")
	check := flag.Bool("check", false, "fail if the output file is not what a build gives now, without writing it")
	flag.Parse()
	if err := run(*out, *check); err != nil {
		fmt.Fprintln(os.Stderr, "wasm build:", err)
		os.Exit(1)
	}
}

// guest is the module's main package.
const guest = "github.com/implicitlab/implicit/wasm/guest"

func run(out string, check bool) error {
	if out == "" {
		dir, err := exec.Command("go", "list", "-f", "{{.Dir}}", "github.com/implicitlab/implicit/wasm").Output()
		if err != nil {
			return fmt.Errorf("finding the wasm package: %w", err)
		}
		out = filepath.Join(strings.TrimSpace(string(dir)), "implicit.wasm")
	}
	dir, err := os.MkdirTemp("", "implicit-wasm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "implicit.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-buildvcs=false", "-tags", "implicit_kernels", "-o", tmp, guest)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=", "GOTOOLCHAIN="+toolchain, "GOEXPERIMENT=")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	built, err := os.ReadFile(tmp)
	if err != nil {
		return err
	}
	kernelsOut := filepath.Join(filepath.Dir(out), "kernels.wasm")
	kernels, err := assembleKernels(filepath.Join(filepath.Dir(out), "kernels", "kernels.wat"), dir)
	if err != nil {
		return err
	}
	if check {
		if err := same(out, built, fmt.Sprintf("a %s build", toolchain), "did the engine under core/ change?"); err != nil {
			return err
		}
		return same(kernelsOut, kernels, "wat2wasm "+wabt, "did kernels/kernels.wat change?")
	}
	if err := os.WriteFile(out, built, 0o644); err != nil {
		return err
	}
	return os.WriteFile(kernelsOut, kernels, 0o644)
}

// same fails if the file at path does not hold built.
func same(path string, built []byte, by, hint string) error {
	have, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !bytes.Equal(have, built) {
		return fmt.Errorf("%s is stale (%d bytes; %s gives %d bytes): run go generate ./wasm and commit it (%s)", path, len(have), by, len(built), hint)
	}
	fmt.Printf("%s is up to date (%d bytes, %s)\n", path, len(built), by)
	return nil
}

// assembleKernels runs wat2wasm on src, checking its release first, and
// returns the module.
func assembleKernels(src, dir string) ([]byte, error) {
	v, err := exec.Command("wat2wasm", "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("wat2wasm (wabt %s) is needed to assemble %s: apt-get install wabt: %w", wabt, src, err)
	}
	if got := strings.TrimSpace(string(v)); got != wabt {
		return nil, fmt.Errorf("wat2wasm is release %s; the committed kernels.wasm is assembled by %s", got, wabt)
	}
	tmp := filepath.Join(dir, "kernels.wasm")
	cmd := exec.Command("wat2wasm", src, "-o", tmp)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("wat2wasm %s: %w", src, err)
	}
	return os.ReadFile(tmp)
}
