package labels

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var testVars = Vars{
	Index:              42,
	ClusterID:          "pg-7f3a",
	ClusterDescription: "orders",
	Provider:           "local",
	// Not UTC and with nanoseconds: rendering must convert and truncate.
	Time: time.Date(2026, 11, 23, 18, 4, 5, 123456789, time.UTC).In(time.FixedZone("X", -5*3600)),
}

func TestRender(t *testing.T) {
	tests := []struct {
		name, tmpl, want string
		vars             *Vars // nil: testVars
	}{
		{name: "empty is default", tmpl: "", want: "pg-7f3a-42"},
		{name: "default", tmpl: Default, want: "pg-7f3a-42"},
		{name: "free text only", tmpl: "nightly backup", want: "nightly backup"},
		{name: "free text unicode", tmpl: "sauvegarde-été ✓", want: "sauvegarde-été ✓"},
		{name: "index", tmpl: "{index}", want: "42"},
		{name: "index decimal", tmpl: "{index:decimal}", want: "42"},
		{name: "index hex", tmpl: "{index:hex}", want: "2a"},
		{name: "index hex lowercase", tmpl: "{index:hex}", want: "ff", vars: &Vars{Index: 255}},
		{name: "index zero", tmpl: "{index}/{index:hex}", want: "0/0", vars: &Vars{}},
		{name: "cluster", tmpl: "{cluster}", want: "orders"},
		{name: "cluster description", tmpl: "{cluster:description}", want: "orders"},
		{name: "cluster falls back to id", tmpl: "{cluster}", want: "pg-1", vars: &Vars{ClusterID: "pg-1"}},
		{name: "cluster description falls back to id", tmpl: "{cluster:description}", want: "pg-1", vars: &Vars{ClusterID: "pg-1"}},
		{name: "cluster id", tmpl: "{cluster:id}", want: "pg-7f3a"},
		{name: "cluster provider", tmpl: "{cluster:provider}", want: "local"},
		{name: "datetime", tmpl: "{datetime}", want: "2026-11-23T18:04:05Z"},
		{name: "datetime RFC3339", tmpl: "{datetime:RFC3339}", want: "2026-11-23T18:04:05Z"},
		{name: "datetime date", tmpl: "{datetime:date}", want: "2026-11-23"},
		{name: "datetime time", tmpl: "{datetime:time}", want: "18:04:05"},
		{name: "datetime compact", tmpl: "{datetime:compact}", want: "20261123T180405Z"},
		{name: "datetime unix", tmpl: "{datetime:unix}", want: "1795457045"},
		{name: "datetime UTC across date line", tmpl: "{datetime:date} {datetime:time}", want: "2026-11-24 02:30:00",
			vars: &Vars{Time: time.Date(2026, 11, 23, 23, 30, 0, 0, time.FixedZone("EST", -3*3600))}},
		{name: "literal open brace", tmpl: "{{", want: "{"},
		{name: "literal close brace", tmpl: "}}", want: "}"},
		{name: "literal braces around text", tmpl: "{{index}}", want: "{index}"},
		{name: "literal braces around variable", tmpl: "{{{index}}}", want: "{42}"},
		{name: "literal empty braces", tmpl: "a{{}}b", want: "a{}b"},
		{name: "mixed", tmpl: "{cluster}-{datetime:date}-{index}", want: "orders-2026-11-23-42"},
		{name: "help example", tmpl: "nightly {{{index:hex}}}", want: "nightly {2a}"},
		{name: "text around variables", tmpl: "db:{cluster:id} #{index} @ {datetime:compact}.", want: "db:pg-7f3a #42 @ 20261123T180405Z."},
		{name: "colon outside braces", tmpl: "a:b", want: "a:b"},
		{name: "control chars in values dropped", tmpl: "{cluster}|{cluster:id}|{cluster:provider}", want: "ordersdb|pg-1|aws",
			vars: &Vars{ClusterDescription: "orders\ndb\x00", ClusterID: "pg\t-1", Provider: "a\x1bws"}},
		{name: "description of only control chars falls back", tmpl: "{cluster}", want: "pg-1",
			vars: &Vars{ClusterDescription: "\n\r", ClusterID: "pg-1"}},
		{name: "invalid utf8 in values dropped", tmpl: "{cluster}", want: "ab", vars: &Vars{ClusterDescription: "a\xffb"}},
		{name: "max length", tmpl: strings.Repeat("é", MaxLen), want: strings.Repeat("é", MaxLen)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := Parse(tc.tmpl)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.tmpl, err)
			}
			v := testVars
			if tc.vars != nil {
				v = *tc.vars
			}
			if got := tmpl.Render(v); got != tc.want {
				t.Errorf("Parse(%q).Render() = %q, want %q", tc.tmpl, got, tc.want)
			}
			wantSrc := tc.tmpl
			if wantSrc == "" {
				wantSrc = Default
			}
			if got := tmpl.String(); got != wantSrc {
				t.Errorf("String() = %q, want %q", got, wantSrc)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, tmpl string
		offset     int
		want       []string // substrings of the message
	}{
		{name: "unknown variable", tmpl: "x-{foo}", offset: 3,
			want: []string{`unknown variable "foo"`, "known variables: index, cluster, datetime"}},
		{name: "unknown variable wrong case", tmpl: "{Index}", offset: 1,
			want: []string{`unknown variable "Index"`, `did you mean "index"?`}},
		{name: "unknown variable with space", tmpl: "{ index}", offset: 1,
			want: []string{`unknown variable " index"`, `did you mean "index"?`}},
		{name: "missing variable name", tmpl: "{:hex}", offset: 1,
			want: []string{"missing variable name", "known variables: index, cluster, datetime"}},
		{name: "unknown index format", tmpl: "{index:oct}", offset: 7,
			want: []string{`unknown format "oct" for variable index`, "formats of index: decimal, hex"}},
		{name: "unknown cluster format", tmpl: "a{cluster:name}", offset: 10,
			want: []string{`unknown format "name" for variable cluster`, "formats of cluster: description, id, provider"}},
		{name: "unknown datetime format", tmpl: "{datetime:iso}", offset: 10,
			want: []string{`unknown format "iso" for variable datetime`, "formats of datetime: RFC3339, date, time, compact, unix"}},
		{name: "unknown format wrong case", tmpl: "{datetime:rfc3339}", offset: 10,
			want: []string{`unknown format "rfc3339"`, `did you mean "RFC3339"?`}},
		{name: "unknown format extra colon", tmpl: "{datetime:date:x}", offset: 10,
			want: []string{`unknown format "date:x"`}},
		{name: "empty format", tmpl: "{index:}", offset: 7,
			want: []string{"missing format after 'index:'", "formats of index: decimal, hex", "default, decimal"}},
		{name: "unclosed brace at end", tmpl: "backup-{index", offset: 7,
			want: []string{"unclosed '{'", "add '}'", "'{{'"}},
		{name: "unclosed lone brace", tmpl: "a{", offset: 1,
			want: []string{"unclosed '{'"}},
		{name: "unclosed brace before another variable", tmpl: "{index-{cluster}", offset: 0,
			want: []string{"unclosed '{'", "byte offset 7"}},
		{name: "stray close brace", tmpl: "a}b", offset: 1,
			want: []string{"stray '}'", "'}}'"}},
		{name: "stray close brace after variable", tmpl: "{index}}", offset: 7,
			want: []string{"stray '}'"}},
		{name: "stray after literal open", tmpl: "{{}", offset: 2,
			want: []string{"stray '}'"}},
		{name: "empty braces", tmpl: "a-{}", offset: 2,
			want: []string{"empty variable '{}'", "index, cluster, datetime", "'{{}}'"}},
		{name: "too long", tmpl: strings.Repeat("a", MaxLen+1), offset: MaxLen,
			want: []string{"201 characters", "at most 200"}},
		{name: "too long multibyte", tmpl: strings.Repeat("é", MaxLen+5), offset: 2 * MaxLen,
			want: []string{"205 characters", "at most 200"}},
		{name: "newline", tmpl: "a\nb", offset: 1,
			want: []string{"character U+000A"}},
		{name: "tab", tmpl: "{index}\t", offset: 7,
			want: []string{"character U+0009"}},
		{name: "escape", tmpl: "\x1b[31m", offset: 0,
			want: []string{"character U+001B"}},
		{name: "delete", tmpl: "a\x7f", offset: 1,
			want: []string{"character U+007F"}},
		{name: "C1 control", tmpl: "é\u0085", offset: 2,
			want: []string{"character U+0085"}},
		{name: "bidi override", tmpl: "a\u202eb", offset: 1,
			want: []string{"character U+202E", "bidi"}},
		{name: "line separator", tmpl: "a\u2028b", offset: 1,
			want: []string{"character U+2028"}},
		{name: "invalid utf8", tmpl: "ab\xff", offset: 2,
			want: []string{"invalid UTF-8 byte 0xff"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.tmpl)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded, want error", tc.tmpl)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %T (%v), want *SyntaxError", tc.tmpl, err, err)
			}
			if se.Offset != tc.offset {
				t.Errorf("Parse(%q) offset = %d, want %d (%v)", tc.tmpl, se.Offset, tc.offset, err)
			}
			if se.Template != tc.tmpl {
				t.Errorf("SyntaxError.Template = %q, want %q", se.Template, tc.tmpl)
			}
			msg := err.Error()
			for _, w := range append(tc.want, "byte offset") {
				if !strings.Contains(msg, w) {
					t.Errorf("Parse(%q) error %q does not mention %q", tc.tmpl, msg, w)
				}
			}
		})
	}
}

func TestMustParse(t *testing.T) {
	if got := MustParse("{index:hex}").Render(Vars{Index: 10}); got != "a" {
		t.Errorf("MustParse render = %q, want %q", got, "a")
	}
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("MustParse of a bad template did not panic")
		}
		if _, ok := r.(*SyntaxError); !ok {
			t.Errorf("MustParse panicked with %T, want *SyntaxError", r)
		}
	}()
	MustParse("{nope}")
}

func TestZeroTemplateIsDefault(t *testing.T) {
	var tmpl Template
	if got := tmpl.String(); got != Default {
		t.Errorf("zero String() = %q, want %q", got, Default)
	}
	if got, want := tmpl.Render(testVars), "pg-7f3a-42"; got != want {
		t.Errorf("zero Render() = %q, want %q", got, want)
	}
}

func TestTextMarshaling(t *testing.T) {
	var cfg struct {
		Label Template `json:"label"`
	}
	if err := json.Unmarshal([]byte(`{"label":"{cluster:id}@{datetime:date}"}`), &cfg); err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Label.Render(testVars), "pg-7f3a@2026-11-23"; got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
	out, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), `{"label":"{cluster:id}@{datetime:date}"}`; got != want {
		t.Errorf("Marshal = %s, want %s", got, want)
	}
	if err := json.Unmarshal([]byte(`{"label":"{bad}"}`), &cfg); err == nil {
		t.Error("Unmarshal of a bad template succeeded")
	}
}

// TestHelpDocumentsEverything keeps Help in step with the variables table.
func TestHelpDocumentsEverything(t *testing.T) {
	for _, v := range variables {
		if !strings.Contains(Help, "{"+v.name+"}") {
			t.Errorf("Help does not document {%s}", v.name)
		}
		for _, f := range v.formats {
			if !strings.Contains(Help, "{"+v.name+":"+f.name+"}") {
				t.Errorf("Help does not document {%s:%s}", v.name, f.name)
			}
		}
	}
	if !strings.Contains(Help, Default) {
		t.Errorf("Help does not mention the default %q", Default)
	}
}

// TestHelpExamples checks that the example outputs shown in Help are true.
func TestHelpExamples(t *testing.T) {
	vars := Vars{Index: 42, ClusterID: "pg-7f3a", ClusterDescription: "orders", Provider: "local",
		Time: time.Date(2026, 11, 23, 18, 4, 5, 0, time.UTC)}
	n := 0
	for _, line := range strings.Split(Help, "\n") {
		// Lines of the form "  {template}    output" in the format table
		// and the examples.
		if !strings.HasPrefix(line, "  {") && !strings.HasPrefix(line, "  nightly") {
			continue
		}
		fields := strings.SplitN(strings.TrimSpace(line), "  ", 2)
		if len(fields) != 2 {
			continue
		}
		tmpl, want := fields[0], strings.TrimSpace(fields[1])
		want, _, _ = strings.Cut(want, " (")
		if strings.Contains(want, " ") && !strings.HasPrefix(tmpl, "nightly") && !strings.HasPrefix(want, "orders") {
			continue // a description, not an example output
		}
		n++
		if got := MustParse(tmpl).Render(vars); got != want {
			t.Errorf("Help says %s renders as %q, but it renders as %q", tmpl, want, got)
		}
	}
	if n < 10 {
		t.Errorf("checked only %d Help examples", n)
	}
}
