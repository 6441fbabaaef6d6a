package validate

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxRestorePointNameLen is PostgreSQL's bound on a restore point's name
// (MAXFNAMELEN less its terminator).
const MaxRestorePointNameLen = 63

// MaxVerifySQLLen bounds the query a restore verifies its database with.
const MaxVerifySQLLen = 4096

// RecoveryTarget is where a point-in-time restore stops: at most one of
// Time, LSN and Name.
type RecoveryTarget struct {
	Time *time.Time
	LSN  string
	Name string
}

// Check applies every rule that needs no catalog.
func (t RecoveryTarget) Check() []string {
	var problems []string
	given := 0
	if t.Time != nil {
		given++
		if t.Time.IsZero() || t.Time.Year() < 2000 || t.Time.Year() > 9999 {
			problems = append(problems, fmt.Sprintf("toTime %s: give a time (RFC 3339, e.g. 2026-12-01T10:00:00Z)", t.Time.Format(time.RFC3339Nano)))
		}
	}
	if t.LSN != "" {
		given++
		if !IsLSN(t.LSN) {
			problems = append(problems, fmt.Sprintf("toLsn %s: give a WAL position written X/Y in hex, as pg_current_wal_lsn() shows it (e.g. 0/3000148)", Quote(t.LSN)))
		}
	}
	if t.Name != "" {
		given++
		if p := RestorePointName("toName", t.Name); p != "" {
			problems = append(problems, p)
		}
	}
	if given > 1 {
		problems = append(problems, "give at most one of toTime (--to-time), toLsn (--to-lsn) or toName (--to-name)")
	}
	return problems
}

// IsLSN says whether s is a WAL position written X/Y, 1 to 8 hex digits
// each.
func IsLSN(s string) bool {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok || len(hi) < 1 || len(hi) > 8 || len(lo) < 1 || len(lo) > 8 {
		return false
	}
	_, err1 := strconv.ParseUint(hi, 16, 32)
	_, err2 := strconv.ParseUint(lo, 16, 32)
	return err1 == nil && err2 == nil
}

// RestorePointName checks a restore point's name: 1 to 63 letters,
// digits, '-', '_' or '.', starting with a letter or digit (it goes into
// recovery_target_name).
func RestorePointName(field, v string) string {
	if v == "" {
		return field + ": give a name"
	}
	if len(v) > MaxRestorePointNameLen {
		return fmt.Sprintf("%s %s: at most %d characters", field, Quote(Truncate(v, 40)), MaxRestorePointNameLen)
	}
	for i, r := range v {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || (i > 0 && (r == '-' || r == '_' || r == '.'))
		if !ok {
			return fmt.Sprintf("%s %s: use letters, digits, '-', '_' and '.', starting with a letter or digit", field, Quote(v))
		}
	}
	return ""
}

// VerifySQL checks the query a restore runs on its restored database.
func VerifySQL(field, v string) string {
	if v == "" {
		return ""
	}
	if len(v) > MaxVerifySQLLen {
		return fmt.Sprintf("%s: at most %d bytes (got %d)", field, MaxVerifySQLLen, len(v))
	}
	if strings.ContainsRune(v, 0) {
		return field + ": no NUL bytes"
	}
	return ""
}
