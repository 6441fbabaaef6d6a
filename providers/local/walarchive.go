package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/stratabackup/strata/providers"
)

// WALArchive is the local provider's WAL archive: a directory per cluster
// under one root, owned by the database server's user (0700) inside a
// root the worker owns and that user may only search (0710).
type WALArchive struct {
	root string
}

var _ providers.WALArchive = (*WALArchive)(nil)

// NewWALArchive keeps archives under root. The root goes into the
// servers' commands, so it may hold no quote, backslash or %.
func NewWALArchive(root string) (*WALArchive, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(abs, "'\"\\%$`") {
		return nil, fmt.Errorf("WAL archive directory %q: it goes into the server's commands, so it may hold no quote, backslash, %%, $ or backquote", abs)
	}
	return &WALArchive{root: abs}, nil
}

func (a *WALArchive) dir(clusterID string) (string, error) {
	if err := checkPathElem(clusterID); err != nil {
		return "", fmt.Errorf("WAL archive of cluster %q: %v", clusterID, err)
	}
	return filepath.Join(a.root, clusterID), nil
}

// Prepare implements providers.WALArchive.
func (a *WALArchive) Prepare(ctx context.Context, clusterID string, server providers.ServerUser) error {
	dir, err := a.dir(clusterID)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(a.root, 0o700); err != nil {
		return err
	}
	if server.Set {
		if err := os.Chown(a.root, -1, server.GID); err != nil {
			return err
		}
		if err := os.Chmod(a.root, 0o710); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if server.Set {
		return os.Chown(dir, server.UID, server.GID)
	}
	return nil
}

// ArchiveCommand copies the segment aside, fsyncs it and renames it into
// place, so a stored segment is whole; one stored before succeeds only if
// it is the same bytes (PostgreSQL archives again after a crash).
func (a *WALArchive) ArchiveCommand(clusterID string) string {
	dst := filepath.Join(a.root, clusterID) + "/%f"
	return fmt.Sprintf(`test ! -f "%[1]s" && cp %%p "%[1]s.part" && sync "%[1]s.part" && mv "%[1]s.part" "%[1]s" || cmp -s %%p "%[1]s"`, dst)
}

// RestoreCommand implements providers.WALArchive.
func (a *WALArchive) RestoreCommand(clusterID string) string {
	return fmt.Sprintf(`cp "%s/%%f" "%%p"`, filepath.Join(a.root, clusterID))
}

// List implements providers.WALArchive.
func (a *WALArchive) List(ctx context.Context, clusterID string) ([]providers.WALFile, error) {
	dir, err := a.dir(clusterID)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]providers.WALFile, 0, len(entries))
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasSuffix(e.Name(), ".part") {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, providers.WALFile{Name: e.Name(), Size: fi.Size(), StoredAt: fi.ModTime().UTC()})
	}
	return out, nil
}

// Delete implements providers.WALArchive.
func (a *WALArchive) Delete(ctx context.Context, clusterID string, names []string) error {
	dir, err := a.dir(clusterID)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := checkPathElem(n); err != nil {
			return fmt.Errorf("WAL archive of cluster %s: file %q: %v", clusterID, n, err)
		}
		if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Location implements providers.WALArchive.
func (a *WALArchive) Location(clusterID string) string { return filepath.Join(a.root, clusterID) }
