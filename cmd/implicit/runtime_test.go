package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A compilation cache that cannot be used costs one warning, not the
// command: here the user's cache directory is a file.
func TestRuntimeCacheUnusable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cache")
	if err := os.WriteFile(file, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_CACHE_HOME", file)
	ctx := context.Background()
	var warnings bytes.Buffer
	rt, err := newRuntime(ctx, &warnings, 0)
	if err != nil {
		t.Fatalf("with an unusable cache: %v", err)
	}
	defer rt.Close(ctx)
	if w := warnings.String(); strings.Count(w, "\n") != 1 || !strings.Contains(w, "cache") {
		t.Errorf("warnings %q, want one line", w)
	}
}
