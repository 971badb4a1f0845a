// Package atomicfile writes files so that readers, and the file system after
// a crash, see either the old content or the new, never a mixture or a
// truncated file.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile writes data to the file named by path, replacing any existing
// file, with permissions perm.
//
// The data is written to a new temporary file in the same directory (so that
// the final rename stays within one file system), flushed to stable storage,
// and renamed over path; the directory is then synced where the platform
// allows, so that the rename itself survives a crash. If WriteFile fails, the
// temporary file is removed and any existing file at path is left as it was.
//
// Unlike os.WriteFile, perm is applied exactly, without the umask, because
// the temporary file is created with mode 0600 and changed afterwards; and an
// existing file at path is replaced by a new one, not truncated, so hard
// links to it keep the old content.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return writeFile(path, data, perm, func(f *os.File, data []byte) error {
		_, err := f.Write(data)
		return err
	})
}

// writeFile is WriteFile with the step writing data to the temporary file
// supplied by the caller, so that tests can make it fail.
func writeFile(path string, data []byte, perm os.FileMode, write func(*os.File, []byte) error) (err error) {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	// The leading dot hides the temporary file from casual listings; the
	// random suffix from os.CreateTemp keeps concurrent writers apart.
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close() // may already be closed; the first error is the one to report
			os.Remove(tmp)
		}
	}()

	if err := write(f, data); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	// Without this sync, a crash soon after the rename could leave path
	// naming a file whose data never reached the disk.
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir flushes the directory entry changed by a rename, where possible.
// Errors are ignored: some platforms (Windows, some WASI hosts) cannot open
// or sync a directory, and by now the rename has happened, so reporting a
// failure would wrongly tell the caller that path still holds the old file.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}

// CheckDir reports an error unless the directory WriteFile(path) would
// write into exists: a program can check its output paths before long work
// rather than fail after it.
func CheckDir(path string) error {
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("%s: no directory %s", path, dir)
	}
	return nil
}

// OutDir is where the examples write their files unless told otherwise:
// out/ in the working directory, which the repository's .gitignore
// ignores, so that a run from a clone leaves no files in its tree.
const OutDir = "out"

// CheckOutput is CheckDir for a program's output path, except that OutDir,
// the default place, is made if it is missing: a path elsewhere must be in
// a directory that exists (a mistyped one is not made).
func CheckOutput(path string) error {
	if filepath.Dir(filepath.Clean(path)) == OutDir {
		if err := os.MkdirAll(OutDir, 0o755); err != nil {
			return err
		}
	}
	return CheckDir(path)
}
