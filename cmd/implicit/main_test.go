package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// run executes the implicit command with args, as a user would from a shell.
func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	err = root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

// The compilation cache keeps this build's module and drops other builds'
// once they have gone unused for a day.
func TestModuleCacheDir(t *testing.T) {
	parent := t.TempDir()
	now := time.Now()
	old, recent := filepath.Join(parent, "module-00000000"), filepath.Join(parent, "wazero-v1.0.0-amd64-linux")
	for _, d := range []string{old, recent} {
		if err := os.MkdirAll(filepath.Join(d, "x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(old, now.Add(-25*time.Hour), now.Add(-25*time.Hour)); err != nil {
		t.Fatal(err)
	}
	dir := moduleCacheDir(parent, now)
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an old build's cache is still there (%v)", err)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("a recent build's cache went: %v", err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() || filepath.Dir(dir) != parent {
		t.Fatalf("%s: %v", dir, err)
	}
	// A day later this build's cache, used again, stays.
	if again := moduleCacheDir(parent, now.Add(25*time.Hour)); again != dir {
		t.Errorf("%s, then %s", dir, again)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Error(err)
	}
}
