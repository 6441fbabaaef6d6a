package validate_test

import (
	"encoding/json"
	"errors"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stratabackup/strata/api/labels"
	"github.com/stratabackup/strata/api/validate"
	"github.com/stratabackup/strata/catalog"
)

// The fuzz targets' seed corpora are in testdata/fuzz, so `go test ./...`
// runs every seed; `go test -fuzz FuzzLabel ./validate/` explores further.

// FuzzLabel: any template either parses, and then renders (for any
// cluster) to text without forbidden characters whose bound is checked, or
// is rejected with a short message.
func FuzzLabel(f *testing.F) {
	f.Fuzz(func(t *testing.T, template, description string) {
		tmpl, err := labels.Parse(template)
		if err != nil {
			if msg := validate.Label("label", template); msg == "" || len(msg) > validate.MaxMessageLen {
				t.Fatalf("rejection %q is empty or longer than %d bytes", msg, validate.MaxMessageLen)
			}
			return
		}
		if utf8.RuneCountInString(template) > validate.MaxLabelLen {
			t.Fatalf("accepted a template of %d characters", utf8.RuneCountInString(template))
		}
		vars := labels.Vars{Index: 42, ClusterID: "c1", ClusterDescription: description, Provider: "local", Time: time.Unix(1795457045, 0)}
		out := tmpl.Render(vars)
		if strings.ContainsFunc(out, labels.Forbidden) || !utf8.ValidString(out) {
			t.Fatalf("rendered %q holds a forbidden character", out)
		}
		if msg := validate.RenderedLabel(tmpl, vars); msg == "" && utf8.RuneCountInString(out) > validate.MaxLabelLen {
			t.Fatalf("label of %d characters passed the rendered bound", utf8.RuneCountInString(out))
		}
	})
}

// FuzzDurationString: a JSON duration string is a Go duration or a short
// rejection.
func FuzzDurationString(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		var d catalog.Duration
		err := d.UnmarshalJSON([]byte(strconv.Quote(s)))
		if err != nil {
			if len(err.Error()) > 200 {
				t.Fatalf("rejection of %d bytes", len(err.Error()))
			}
			return
		}
		if s == "" {
			if d != 0 {
				t.Fatalf("empty string gave %s", d)
			}
			return
		}
		want, perr := time.ParseDuration(s)
		if perr != nil || want != d.D() {
			t.Fatalf("%q decoded to %s; time.ParseDuration says %s, %v", s, d, want, perr)
		}
	})
}

// FuzzDurationJSON: a JSON number of seconds never wraps around (1e30 must
// not become a negative duration), and anything else decodes or is
// rejected shortly.
func FuzzDurationJSON(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var d catalog.Duration
		err := d.UnmarshalJSON(b)
		if err != nil {
			if len(err.Error()) > 200 {
				t.Fatalf("rejection of %d bytes", len(err.Error()))
			}
			return
		}
		var secs float64
		if json.Unmarshal(b, &secs) == nil {
			if math.Abs(secs) > 9.2e9 {
				t.Fatalf("%s seconds accepted as %s", b, d)
			}
			if (secs > 1e-6 && d < 0) || (secs < -1e-6 && d > 0) {
				t.Fatalf("%s seconds changed sign: %s", b, d)
			}
		}
	})
}

var idShape = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// FuzzID: an accepted ID has the documented shape and bound; a rejected one
// a short message; never a panic.
func FuzzID(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		check := func(rule string, msg string, ok func() bool) {
			if msg == "" && !ok() {
				t.Fatalf("%s accepted %q", rule, s)
			}
			if len(msg) > 300 {
				t.Fatalf("%s: rejection of %d bytes", rule, len(msg))
			}
		}
		check("ID", validate.ID("id", s), func() bool { return len(s) <= validate.MaxIDLen && idShape.MatchString(s) })
		check("NewID", validate.NewID("id", s), func() bool { return len(s) <= validate.MaxNewIDLen && idShape.MatchString(s) })
		check("RequestID", validate.RequestID("requestId", s), func() bool {
			return len(s) <= validate.MaxRequestIDLen && validate.Printable(s) && !strings.ContainsAny(s, " /\n")
		})
		check("VolumeRef", validate.VolumeRef("volume", s), func() bool {
			return len(s) <= validate.MaxVolumeRefLen && !strings.Contains(s, "..") && validate.Printable(s)
		})
	})
}

// FuzzText: accepted text is printable and within its bound.
func FuzzText(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		msg := validate.Text("description", s, validate.MaxDescriptionLen)
		if msg == "" && (!validate.Printable(s) || utf8.RuneCountInString(s) > validate.MaxDescriptionLen) {
			t.Fatalf("accepted %q", s)
		}
		if len(msg) > 300 {
			t.Fatalf("rejection of %d bytes", len(msg))
		}
		h := validate.Lock{ClusterID: "c", Holder: s, TTL: time.Hour}.Check(validate.Limits{})
		var ve *validate.Error
		if h != nil && !errors.As(h, &ve) {
			t.Fatalf("lock rejection is not a validate.Error: %v", h)
		}
	})
}
