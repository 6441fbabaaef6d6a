//go:build !linux

package local

import (
	"io/fs"
	"os"
	"path/filepath"
)

// syncTree makes everything written under dir durable: where there is no
// syncfs(2), by an fsync of every file and directory in it.
func syncTree(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		serr := f.Sync()
		if cerr := f.Close(); serr == nil {
			serr = cerr
		}
		return serr
	})
}
