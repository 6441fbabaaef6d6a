package postgres

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// walSegmentSize is initdb's default, which Strata's servers use.
const walSegmentSize = 16 << 20

// segmentNameLen is a WAL segment's name: timeline, then position, 8 hex
// digits each of timeline, log and segment.
const segmentNameLen = 24

// walPosition reads a WAL file's name (a segment, a .partial or a
// .backup file): its timeline and segment number. ok is false for other
// files, timeline .history files among them.
func walPosition(name string) (timeline, segno uint64, ok bool) {
	if len(name) < segmentNameLen {
		return 0, 0, false
	}
	rest := name[segmentNameLen:]
	if rest != "" && rest != ".partial" && !(len(rest) > 8 && rest[0] == '.' && filepath.Ext(rest) == ".backup") {
		return 0, 0, false
	}
	var parts [3]uint64
	for i := range parts {
		v, err := strconv.ParseUint(name[i*8:i*8+8], 16, 32)
		if err != nil || strings.ToUpper(name[i*8:i*8+8]) != name[i*8:i*8+8] {
			return 0, 0, false
		}
		parts[i] = v
	}
	perLog := (uint64(1) << 32) / walSegmentSize
	return parts[0], parts[1]*perLog + parts[2], true
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
		if _, n, ok := walPosition(f.Name); ok && n < keep {
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
