// Command build compiles the implicit WebAssembly module reproducibly: the
// pinned Go toolchain, GOOS=wasip1 GOARCH=wasm, -buildmode=c-shared,
// -trimpath, no VCS stamp and no GOFLAGS from the environment. Run from
// wasm/ by go generate; with -check it rebuilds into a temporary file and
// fails if the committed module differs.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// toolchain is the Go release the committed module is built with. A
// different release compiles different bytes; the go command fetches this
// one if it is not the local one.
const toolchain = "go1.26.8"

func main() {
	out := flag.String("o", "implicit.wasm", "output file")
	check := flag.Bool("check", false, "fail if the output file is not what a build gives now, without writing it")
	flag.Parse()
	if err := run(*out, *check); err != nil {
		fmt.Fprintln(os.Stderr, "wasm build:", err)
		os.Exit(1)
	}
}

func run(out string, check bool) error {
	dir, err := os.MkdirTemp("", "implicit-wasm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "implicit.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-buildvcs=false", "-o", tmp, "./guest")
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
			return fmt.Errorf("%s is stale (%d bytes; a %s build gives %d bytes): run go generate ./wasm and commit it", out, len(have), toolchain, len(built))
		}
		fmt.Printf("%s is up to date (%d bytes, %s)\n", out, len(built), toolchain)
		return nil
	}
	return os.WriteFile(out, built, 0o644)
}
