// Package labels parses and renders backup label templates such as
// "{cluster}-{datetime:date}-{index}". See Help for the syntax.
package labels

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Default is the template used when none is given.
const Default = "{cluster:id}-{index}"

// MaxLen is the longest template accepted, in characters (Unicode code points).
const MaxLen = 200

// Help documents the template syntax for users (CLI help and docs/api.md).
const Help = `Backup label templates

A label template is free text with variables in braces. Text outside braces
is kept as written; write {{ for a literal { and }} for a literal }.
A variable may take a format after a colon: {variable:format}.

  {index}                the backup's number within its cluster, counting
                         up by one per backup; same as {index:decimal}
  {index:decimal}        42
  {index:hex}            2a (lowercase hexadecimal)
  {cluster}              the cluster's description, or its ID when the
                         description is empty; same as {cluster:description}
  {cluster:description}  orders
  {cluster:id}           the cluster's ID
  {cluster:provider}     the cluster's provider
  {datetime}             the backup's time, RFC 3339; same as {datetime:RFC3339}
  {datetime:RFC3339}     2026-11-23T18:04:05Z
  {datetime:date}        2026-11-23
  {datetime:time}        18:04:05
  {datetime:compact}     20261123T180405Z
  {datetime:unix}        1795457045 (seconds since 1970-01-01T00:00:00Z)

Times are always UTC. Variable and format names are case-sensitive.
A template is at most 200 characters, and so is the label it renders to; it
may not contain control characters (tabs, newlines, ...) or bidi overrides,
and such characters in a cluster's description, ID or provider are left out
of the label. An empty template means the default,
{cluster:id}-{index}.

Examples (cluster "pg-7f3a", description "orders", index 42):
  {cluster:id}-{index}               pg-7f3a-42
  {cluster}-{datetime:date}-{index}  orders-2026-11-23-42
  nightly {{{index:hex}}}            nightly {2a}`

// Vars are the values a template can use.
type Vars struct {
	Index              int64
	ClusterID          string
	ClusterDescription string
	Provider           string
	Time               time.Time
}

// Template is a parsed label template. The zero Template is the Default
// template.
type Template struct {
	src   string
	parts []part
}

// part is either literal text (fn == nil) or a variable.
type part struct {
	text string
	fn   func(Vars) string
}

type format struct {
	name string
	fn   func(Vars) string
}

type variable struct {
	name    string
	formats []format // formats[0] is used when no format is given
}

// variables lists every variable with its formats, in the order Help and
// error messages show them.
var variables = []variable{
	{"index", []format{
		{"decimal", func(v Vars) string { return strconv.FormatInt(v.Index, 10) }},
		{"hex", func(v Vars) string { return strconv.FormatInt(v.Index, 16) }},
	}},
	{"cluster", []format{
		{"description", func(v Vars) string {
			if d := clean(v.ClusterDescription); d != "" {
				return d
			}
			return clean(v.ClusterID)
		}},
		{"id", func(v Vars) string { return clean(v.ClusterID) }},
		{"provider", func(v Vars) string { return clean(v.Provider) }},
	}},
	{"datetime", []format{
		{"RFC3339", timeLayout(time.RFC3339)},
		{"date", timeLayout("2006-01-02")},
		{"time", timeLayout("15:04:05")},
		{"compact", timeLayout("20060102T150405Z")},
		{"unix", func(v Vars) string { return strconv.FormatInt(v.Time.Unix(), 10) }},
	}},
}

func timeLayout(layout string) func(Vars) string {
	return func(v Vars) string { return v.Time.UTC().Format(layout) }
}

// Forbidden reports whether r is never accepted in text Strata stores and
// shows (labels, descriptions, holder names): control characters, line and
// paragraph separators, and the bidi controls that make a terminal or a web
// page display text in another order than it is stored.
func Forbidden(r rune) bool {
	switch {
	case unicode.IsControl(r), r == '\u2028', r == '\u2029':
		return true
	case r == '\u061c', r == '\u200e', r == '\u200f', r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

// clean drops invalid UTF-8 and forbidden characters from a value, so that a
// rendered label never contains them.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "")
	if strings.IndexFunc(s, Forbidden) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if Forbidden(r) {
			return -1
		}
		return r
	}, s)
}

var defaultTemplate = MustParse(Default)

// SyntaxError describes what is wrong with a template and where.
type SyntaxError struct {
	Template string // the template as given
	Offset   int    // byte offset in Template where the problem is
	Msg      string // what is wrong and how to fix it
}

// Error names the template by its first few dozen characters only, so a
// huge template never makes a huge message.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("label template %s: at byte offset %d: %s", shortQuote(e.Template), e.Offset, e.Msg)
}

func shortQuote(s string) string {
	const n = 40
	if len(s) <= n && utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	r := []rune(strings.ToValidUTF8(s, "\uFFFD"))
	if len(r) > n {
		r = r[:n]
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(string(r)), len(s))
}

// Parse parses a label template. An empty string means Default. Errors are
// *SyntaxError.
func Parse(s string) (Template, error) {
	if s == "" {
		s = Default
	}
	fail := func(off int, msg string, args ...any) (Template, error) {
		return Template{}, &SyntaxError{Template: s, Offset: off, Msg: fmt.Sprintf(msg, args...)}
	}

	// Characters: length limit, valid UTF-8, no control characters.
	n := 0
	for i, r := range s {
		n++
		if n == MaxLen+1 {
			return fail(i, "template is %d characters long; shorten it to at most %d", utf8.RuneCountInString(s), MaxLen)
		}
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return fail(i, "invalid UTF-8 byte 0x%02x; use valid UTF-8 text", s[i])
			}
		}
		if Forbidden(r) {
			return fail(i, "character %U is not allowed; remove it (labels are single-line text without control characters or bidi overrides)", r)
		}
	}

	var parts []part
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, part{text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		switch c := s[i]; c {
		case '{':
			if i+1 < len(s) && s[i+1] == '{' {
				lit.WriteByte('{')
				i += 2
				continue
			}
			end := strings.IndexAny(s[i+1:], "{}")
			if end < 0 {
				return fail(i, "unclosed '{': add '}' to end the variable, or write '{{' for a literal '{'")
			}
			end += i + 1
			if s[end] == '{' {
				return fail(i, "unclosed '{' (another '{' follows at byte offset %d before any '}'): add '}' to end the variable, or write '{{' for a literal '{'", end)
			}
			fn, err := lookup(s[i+1:end], i)
			if err != nil {
				return fail(err.off, "%s", err.msg)
			}
			flush()
			parts = append(parts, part{fn: fn})
			i = end + 1
		case '}':
			if i+1 < len(s) && s[i+1] == '}' {
				lit.WriteByte('}')
				i += 2
				continue
			}
			return fail(i, "stray '}' with no matching '{': write '}}' for a literal '}'")
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	return Template{src: s, parts: parts}, nil
}

type lookupError struct {
	off int
	msg string
}

// lookup resolves the inside of a variable, "name" or "name:format", which
// starts just after the '{' at byte offset open.
func lookup(body string, open int) (func(Vars) string, *lookupError) {
	if body == "" {
		return nil, &lookupError{open, "empty variable '{}': name a variable (" + variableNames() + "), or write '{{}}' for literal braces"}
	}
	name, fmtName, hasFmt := strings.Cut(body, ":")
	var v *variable
	for i := range variables {
		if variables[i].name == name {
			v = &variables[i]
		}
	}
	if v == nil {
		msg := fmt.Sprintf("unknown variable %q; known variables: %s", name, variableNames())
		if name == "" {
			msg = fmt.Sprintf("missing variable name before ':'; known variables: %s", variableNames())
		}
		for _, kv := range variables {
			if strings.EqualFold(kv.name, strings.TrimSpace(name)) {
				msg += fmt.Sprintf(" (did you mean %q?)", kv.name)
			}
		}
		return nil, &lookupError{open + 1, msg}
	}
	if !hasFmt {
		return v.formats[0].fn, nil
	}
	fmtOff := open + 1 + len(name) + 1
	if fmtName == "" {
		return nil, &lookupError{fmtOff, fmt.Sprintf("missing format after '%s:'; formats of %s: %s (or drop the ':' for the default, %s)",
			name, name, formatNames(v), v.formats[0].name)}
	}
	for _, f := range v.formats {
		if f.name == fmtName {
			return f.fn, nil
		}
	}
	msg := fmt.Sprintf("unknown format %q for variable %s; formats of %s: %s", fmtName, name, name, formatNames(v))
	for _, f := range v.formats {
		if strings.EqualFold(f.name, strings.TrimSpace(fmtName)) {
			msg += fmt.Sprintf(" (did you mean %q?)", f.name)
		}
	}
	return nil, &lookupError{fmtOff, msg}
}

func variableNames() string {
	names := make([]string, len(variables))
	for i, v := range variables {
		names[i] = v.name
	}
	return strings.Join(names, ", ")
}

func formatNames(v *variable) string {
	names := make([]string, len(v.formats))
	for i, f := range v.formats {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

// MustParse is like Parse but panics on error. For templates known at
// compile time.
func MustParse(s string) Template {
	t, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return t
}

// Render fills in the template's variables. Control characters and invalid
// UTF-8 in the string values are left out.
func (t Template) Render(v Vars) string {
	if t.src == "" {
		t = defaultTemplate
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.fn == nil {
			b.WriteString(p.text)
		} else {
			b.WriteString(p.fn(v))
		}
	}
	return b.String()
}

// String returns the template's source text (Default for an empty one).
func (t Template) String() string {
	if t.src == "" {
		return Default
	}
	return t.src
}

// MarshalText returns the template's source text.
func (t Template) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText parses a template, so a Template can be read from JSON,
// YAML or a flag.
func (t *Template) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	if err != nil {
		return err
	}
	*t = p
	return nil
}
