package catalog

import (
	"context"
	"strings"
)

// UseMigrationsForTest makes Open apply only the first n migrations until
// the returned function restores them all (tests of schema upgrades; not
// for parallel tests).
func UseMigrationsForTest(n int) (restore func()) {
	all := migrations
	migrations = all[:n]
	return func() { migrations = all }
}

// SQLitePlanForTest returns SQLite's query plan (EXPLAIN QUERY PLAN details,
// one a line) of ListBackups' main query for f.
func SQLitePlanForTest(ctx context.Context, st Store, f BackupFilter) (string, error) {
	s := st.(*sqlStore)
	q, args := listBackupsQuery(f)
	rows, err := s.db.QueryContext(ctx, `EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		return "", err
	}
	lines, err := collect(rows, func(sc scanner) (string, error) {
		var id, parent, notused int
		var detail string
		err := sc.Scan(&id, &parent, &notused, &detail)
		return detail, err
	})
	if err != nil {
		return "", err
	}
	return strings.Join(lines, "\n"), nil
}

// ExecForTest runs a statement (with ? placeholders) on the store's database.
func ExecForTest(ctx context.Context, st Store, q string, args ...any) error {
	s := st.(*sqlStore)
	_, err := s.direct().exec(ctx, q, args...)
	return err
}

// UseDetailsChunkForTest makes ListBackups load snapshots and holds n
// backups a query until the returned function restores the default (not
// for parallel tests).
func UseDetailsChunkForTest(n int) (restore func()) {
	old := detailsChunk
	detailsChunk = n
	return func() { detailsChunk = old }
}
