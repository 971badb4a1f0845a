package atomicfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// entries returns the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// checkFile fails t unless path holds want and is dir's only entry.
func checkFile(t *testing.T, dir, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s holds %q, want %q", path, got, want)
	}
	if names := entries(t, dir); len(names) != 1 || names[0] != filepath.Base(path) {
		t.Errorf("directory holds %q, want only %q (temporary file left behind?)", names, filepath.Base(path))
	}
}

func TestWriteFileCreates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	if err := WriteFile(path, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkFile(t, dir, path, []byte("new"))
}

func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	if err := os.WriteFile(path, []byte("old content, longer than the new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkFile(t, dir, path, []byte("new"))
}

func TestWriteFileEmpty(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "empty")
	if err := WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	checkFile(t, dir, path, []byte{})
}

func TestWriteFilePerm(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "wasip1" || runtime.GOOS == "js" {
		t.Skip("no Unix permission bits on " + runtime.GOOS)
	}
	dir := t.TempDir()
	for _, perm := range []os.FileMode{0o600, 0o640, 0o755} {
		path := filepath.Join(dir, "f"+perm.String())
		if err := WriteFile(path, []byte("x"), perm); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != perm {
			t.Errorf("mode %v, want %v", got, perm)
		}
	}
}

// TestWriteFailureKeepsOriginal makes the write itself fail part-way and
// checks that the existing file is untouched and no temporary file remains.
func TestWriteFailureKeepsOriginal(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	old := []byte("old content")
	if err := os.WriteFile(path, old, 0o644); err != nil {
		t.Fatal(err)
	}
	errDiskFull := errors.New("disk full")
	err := writeFile(path, []byte("new content"), 0o644, func(f *os.File, data []byte) error {
		if _, err := f.Write(data[:3]); err != nil {
			return err
		}
		return errDiskFull
	})
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("writeFile error = %v, want %v", err, errDiskFull)
	}
	checkFile(t, dir, path, old)
}

// TestRenameFailureCleansUp makes the final rename fail, by putting a
// non-empty directory where the file should go.
func TestRenameFailureCleansUp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "keep"), []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("new"), 0o644); err == nil {
		t.Fatal("WriteFile over a non-empty directory succeeded")
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Errorf("directory holds %q, want only the original directory", names)
	}
	if got, err := os.ReadFile(filepath.Join(path, "keep")); err != nil || string(got) != "k" {
		t.Errorf("directory content changed: %q, %v", got, err)
	}
}

func TestWriteFileMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "f")
	if err := WriteFile(path, []byte("x"), 0o644); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("WriteFile error = %v, want one wrapping os.ErrNotExist", err)
	}
}

func TestWriteFileRelative(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := WriteFile("rel", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkFile(t, ".", "rel", []byte("x"))
}

func TestCheckDir(t *testing.T) {
	dir := t.TempDir()
	if err := CheckDir(filepath.Join(dir, "out.png")); err != nil {
		t.Errorf("an existing directory: %v", err)
	}
	if err := CheckDir(filepath.Join(dir, "missing", "out.png")); err == nil {
		t.Error("a missing directory: no error")
	}
	if err := CheckDir("out.png"); err != nil {
		t.Errorf("the working directory: %v", err)
	}
}

// CheckOutput makes the default directory, out/, and only that one.
func TestCheckOutput(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := CheckOutput(filepath.Join(OutDir, "plot.png")); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(OutDir); err != nil || !st.IsDir() {
		t.Errorf("%s not made: %v", OutDir, err)
	}
	if err := CheckOutput(filepath.Join("typo", "plot.png")); err == nil || !strings.Contains(err.Error(), "no directory typo") {
		t.Errorf("a missing directory elsewhere: %v", err)
	}
	if _, err := os.Stat("typo"); err == nil {
		t.Error("a directory other than out/ was made")
	}
	if err := CheckOutput("plot.png"); err != nil {
		t.Error(err)
	}
}
