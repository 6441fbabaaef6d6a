package api

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("90s", "1h30m"), so that hand-written inputs (temporal CLI, Web UI)
// stay readable. A JSON number is read as seconds.
type Duration time.Duration

func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

func (d Duration) MarshalJSON() ([]byte, error) {
	if d == 0 {
		return []byte(`""`), nil
	}
	return json.Marshal(time.Duration(d).String())
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" || s == `""` {
		*d = 0
		return nil
	}
	if len(s) > 0 && s[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		v, err := time.ParseDuration(str)
		if err != nil {
			return fmt.Errorf("invalid duration %s: use a Go duration such as \"90s\", \"30m\" or \"2h\"", shortLiteral(strconv.Quote(str)))
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("invalid duration %s: use a string such as \"30m\" or a number of seconds", shortLiteral(s))
	}
	// A float64 of seconds past int64 nanoseconds would wrap around to a
	// negative duration: refuse it rather than let 1e30 mean "very short".
	if math.IsNaN(secs) || math.Abs(secs) > maxDurationSeconds {
		return fmt.Errorf("invalid duration %s seconds: out of range (at most %d seconds, about %d years)", shortLiteral(s), int64(maxDurationSeconds), int64(maxDurationSeconds)/(365*24*3600))
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

// maxDurationSeconds is the largest number of seconds a Duration holds
// (int64 nanoseconds), rounded down to stay clear of float rounding.
const maxDurationSeconds = 9.2e9

// shortLiteral cuts an echoed JSON literal to a few dozen bytes.
func shortLiteral(s string) string {
	if len(s) <= 40 {
		return s
	}
	return fmt.Sprintf("%s… (%d bytes)", strings.ToValidUTF8(s[:40], ""), len(s))
}
