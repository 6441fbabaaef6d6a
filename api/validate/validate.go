// Package validate holds the rule and the bound of every input Strata
// accepts. The workflows are the public API (the Web UI, the temporal CLI
// and other services reach them without Strata's client), so each
// workflow's first step checks its input with these rules before anything
// exists; the Go client and the starter CLI run the same checks only to
// fail earlier. The "Input rules" table of docs/api.md lists every field.
//
// Every bound sits well inside Temporal's limits (2,048 bytes per search
// attribute value, 2 MB per payload), so an input that passes can never
// make the server fail or terminate a workflow after it created records.
package validate

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stratabackup/strata/api/labels"
)

// Bounds. They are public API: docs/api.md documents each.
const (
	// MaxIDLen bounds every Strata ID a request names (clusters, nodes,
	// backups, jobs, restores, projects, networks, channels).
	MaxIDLen = 63
	// MaxNewIDLen bounds an ID a caller picks for a new cluster, project or
	// network, so the node and volume IDs derived from it fit MaxIDLen.
	MaxNewIDLen = 40
	// MaxRequestIDLen bounds an idempotency key (it becomes part of a
	// workflow ID).
	MaxRequestIDLen = 128
	// MaxDescriptionLen bounds descriptions, in characters.
	MaxDescriptionLen = 200
	// MaxLabelLen bounds a label template and the label it renders to.
	MaxLabelLen = labels.MaxLen
	// MaxHolderLen bounds an outside lock holder's name.
	MaxHolderLen = 100
	// MaxNodes and MaxVolumesPerNode bound a cluster's shape.
	MaxNodes          = 64
	MaxVolumesPerNode = 16
	// MaxDiskGB bounds a volume's size (64 TiB, the largest EBS volume).
	MaxDiskGB = 65536
	// MaxDataMB bounds the generated data of a local volume.
	MaxDataMB = 1024
	// MaxVolumeRefLen bounds a provider's volume reference (an EBS volume
	// ID, a GCE zones/Z/disks/NAME).
	MaxVolumeRefLen = 256
	// MaxReconcileGrace bounds the reconciler's grace period.
	MaxReconcileGrace = 30 * 24 * time.Hour
	// MaxFreshnessMultiple bounds the monitor's staleness multiple.
	MaxFreshnessMultiple = 1000
	// MaxMessageLen bounds the message of a rejection, whatever the input.
	MaxMessageLen = 600
	// quoteLen is how much of a bad value a message repeats.
	quoteLen = 40
)

// DefaultMaxLockTTL is the longest lease a lock may ask for unless the
// worker says otherwise (--max-lock-ttl).
const DefaultMaxLockTTL = 24 * time.Hour

// MinBackupTimeout is the shortest snapshot timeout a backup may ask for.
const MinBackupTimeout = time.Second

var (
	idPattern     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	requestIDChar = regexp.MustCompile(`^[A-Za-z0-9._:@+=-]+$`)
	volumeRefChar = regexp.MustCompile(`^[A-Za-z0-9._/:-]+$`)
)

// Error is a rejected input: what was being checked and every problem
// found, each naming the field and what to give instead.
type Error struct {
	What     string
	Problems []string
}

// Error joins the problems into one line of at most MaxMessageLen bytes.
func (e *Error) Error() string {
	return Truncate("invalid "+e.What+": "+strings.Join(e.Problems, "; "), MaxMessageLen)
}

// Problems collects what is wrong with one input.
type Problems struct {
	list []string
}

// Add records a problem; an empty one (a rule that passed) is ignored.
func (p *Problems) Add(problem string) {
	if problem != "" {
		p.list = append(p.list, problem)
	}
}

// Addf records a formatted problem.
func (p *Problems) Addf(format string, args ...any) {
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

// Empty reports whether nothing was found.
func (p *Problems) Empty() bool { return len(p.list) == 0 }

// Err is nil when nothing was found, else an *Error about what ("backup
// request", "cluster", ...).
func (p *Problems) Err(what string) error {
	if len(p.list) == 0 {
		return nil
	}
	return &Error{What: what, Problems: append([]string(nil), p.list...)}
}

// ID checks a reference to an existing Strata ID: 1 to MaxIDLen lowercase
// letters, digits and inner hyphens. An empty value is a problem: use it
// only for required fields.
func ID(field, v string) string {
	if v == "" {
		return field + " is required"
	}
	return idShape(field, v, MaxIDLen)
}

// OptionalID is ID for a field that may be left empty.
func OptionalID(field, v string) string {
	if v == "" {
		return ""
	}
	return idShape(field, v, MaxIDLen)
}

// NewID checks an ID a caller picks for something new (cluster, project,
// network): 1 to MaxNewIDLen lowercase letters, digits and inner hyphens.
func NewID(field, v string) string {
	if v == "" {
		return field + " is required"
	}
	return idShape(field, v, MaxNewIDLen)
}

func idShape(field, v string, max int) string {
	if len(v) > max || !idPattern.MatchString(v) {
		return fmt.Sprintf("%s %s: use 1 to %d lowercase letters, digits and inner hyphens", field, Quote(v), max)
	}
	return ""
}

// RequestID checks an idempotency key (optional): at most MaxRequestIDLen
// letters, digits and . _ : @ + = -, so it can become part of a workflow ID.
func RequestID(field, v string) string {
	if v == "" {
		return ""
	}
	if len(v) > MaxRequestIDLen || !requestIDChar.MatchString(v) {
		return fmt.Sprintf("%s %s: use at most %d letters, digits and . _ : @ + = -", field, Quote(v), MaxRequestIDLen)
	}
	return ""
}

// VolumeRef checks a provider's reference to a volume: 1 to
// MaxVolumeRefLen letters, digits and . _ / : -.
func VolumeRef(field, v string) string {
	if v == "" {
		return field + " is required"
	}
	if len(v) > MaxVolumeRefLen || !volumeRefChar.MatchString(v) || strings.Contains(v, "..") {
		return fmt.Sprintf("%s %s: use at most %d letters, digits and . _ / : - (no \"..\")", field, Quote(v), MaxVolumeRefLen)
	}
	return ""
}

// Text checks free text (descriptions, holder names): valid UTF-8, at most
// max characters, and no control characters, line separators or bidi
// overrides (which can make a terminal or the Web UI show something other
// than what is stored).
func Text(field, v string, max int) string {
	if !utf8.ValidString(v) {
		return fmt.Sprintf("%s is not valid UTF-8 text", field)
	}
	if n := utf8.RuneCountInString(v); n > max {
		return fmt.Sprintf("%s is %d characters long: give at most %d", field, n, max)
	}
	for i, r := range v {
		if labels.Forbidden(r) {
			return fmt.Sprintf("%s has %U at byte offset %d: control characters, line separators and bidi overrides are not allowed", field, r, i)
		}
	}
	return ""
}

// Count checks that n is within [min, max].
func Count(field string, n, min, max int) string {
	if n < min || n > max {
		return fmt.Sprintf("%s %d: give %d to %d", field, n, min, max)
	}
	return ""
}

// Duration checks that d is within [min, max].
func Duration(field string, d, min, max time.Duration) string {
	switch {
	case d < 0:
		return fmt.Sprintf("%s %s is negative: give a duration such as \"30m\"", field, d)
	case d < min:
		return fmt.Sprintf("%s %s is too short: give at least %s", field, d, min)
	case max > 0 && d > max:
		return fmt.Sprintf("%s %s exceeds the maximum %s", field, d, max)
	}
	return ""
}

// Region checks a region name: 1 to MaxIDLen lowercase letters, digits and
// inner hyphens ("us-east-1", "local").
func Region(field, v string) string {
	if v == "" {
		return field + " is required"
	}
	return idShape(field, v, MaxIDLen)
}

// Quote renders a value for a message: quoted, cut to a few dozen
// characters, with its length when cut, so a megabyte of input never makes
// a megabyte of error.
func Quote(v string) string {
	if utf8.RuneCountInString(v) <= quoteLen && utf8.ValidString(v) {
		return strconv.Quote(v)
	}
	cut := []rune(strings.ToValidUTF8(v, "\uFFFD"))
	if len(cut) > quoteLen {
		cut = cut[:quoteLen]
	}
	return strconv.Quote(string(cut)) + fmt.Sprintf("… (%d bytes)", len(v))
}

// Truncate cuts s to at most n bytes on a character boundary, marking the
// cut with "…".
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	end := n - len(mark)
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + mark
}

// RedactURL keeps a URL's scheme and host only, without user:password,
// path or query (where webhook URLs carry tokens), marking a cut with
// "/...": what listings, errors and logs may show of a URL.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	if (u.Path == "" || u.Path == "/") && u.RawQuery == "" {
		return u.Scheme + "://" + u.Host
	}
	return u.Scheme + "://" + u.Host + "/..."
}

// Printable reports whether s is safe to show on a terminal as it is: valid
// UTF-8 without control, line-separator or bidi characters.
func Printable(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, labels.Forbidden) < 0
}
