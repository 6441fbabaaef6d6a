package local

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncTree makes everything written under dir durable, file contents and
// directory entries alike. On Linux that is one syncfs(2) of dir's
// filesystem: cheaper than an fsync per file and per directory, and it
// also covers the renames that put the copy in place.
func syncTree(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}
