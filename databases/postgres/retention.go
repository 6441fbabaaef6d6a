package postgres

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
)

// walSegmentSize is initdb's default, which Strata's servers use.
const walSegmentSize = 16 << 20

// segmentNumber is the position of a WAL file (a segment, a .partial or
// a .backup file) by its 24-hex-digit name, timeline aside; ok is false for
// other files (timeline .history files among them).
func segmentNumber(name string) (uint64, bool) {
	if len(name) < 24 || !segmentName.MatchString(name[:24]) {
		return 0, false
	}
	rest := name[24:]
	if rest != "" && rest != ".partial" && !(len(rest) > 8 && rest[0] == '.' && filepath.Ext(rest) == ".backup") {
		return 0, false
	}
	log, _ := strconv.ParseUint(name[8:16], 16, 32)
	seg, _ := strconv.ParseUint(name[16:24], 16, 32)
	perLog := (uint64(1) << 32) / walSegmentSize
	return log*perLog + seg, true
}

// PruneArchive removes from the cluster's archive every WAL file before
// the segment that holds keepFrom, on every timeline: no restore that
// starts at or after keepFrom reads them. Timeline history files stay
// (they are small, and a restore following timelines needs them). It says
// how many files and bytes it removed.
func (m *Manager) PruneArchive(ctx context.Context, clusterID string, keepFrom uint64) (files int, bytes int64, err error) {
	if m.archive == nil {
		return 0, 0, nil
	}
	stored, err := m.archive.List(ctx, clusterID)
	if err != nil {
		return 0, 0, err
	}
	keep := keepFrom / walSegmentSize
	var doomed []string
	for _, f := range stored {
		if n, ok := segmentNumber(f.Name); ok && n < keep {
			doomed = append(doomed, f.Name)
			bytes += f.Size
		}
	}
	if len(doomed) == 0 {
		return 0, 0, nil
	}
	if err := m.archive.Delete(ctx, clusterID, doomed); err != nil {
		return 0, 0, fmt.Errorf("pruning the WAL archive of cluster %s: %w", clusterID, err)
	}
	return len(doomed), bytes, nil
}
