// Command build compiles the implicit WebAssembly module reproducibly: the
// pinned Go toolchain, GOOS=wasip1 GOARCH=wasm, -buildmode=c-shared,
// -trimpath, no VCS stamp and no GOFLAGS from the environment. go generate
// in wasm/ runs it; with -check it rebuilds into a temporary file and fails
// if the committed module differs:
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
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-buildvcs=false", "-o", tmp, guest)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=", "GOTOOLCHAIN="+toolchain, "GOEXPERIMENT=")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	built, err := os.ReadFile(tmp)
	if err != nil {
		return err
	}
	if check {
		have, err := os.ReadFile(out)
		if err != nil {
			return err
		}
		if !bytes.Equal(have, built) {
			return fmt.Errorf("%s is stale (%d bytes; a %s build gives %d bytes): run go generate ./wasm and commit it (did the engine under core/ change?)", out, len(have), toolchain, len(built))
		}
		fmt.Printf("%s is up to date (%d bytes, %s)\n", out, len(built), toolchain)
		return nil
	}
	return os.WriteFile(out, built, 0o644)
}
