package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/api"
)

// The built-in profiles reproduce the published table and pass the rules
// a user's profile must.
func TestBuiltinProfiles(t *testing.T) {
	want := []string{"none", "dr-single", "hourly-24h-daily-3d", "hourly-24h-daily-14d", "hourly-24h-daily-30d", "every-12h-3d", "pitr-2d", "pitr-14d", "pitr-30d"}
	var got []string
	for _, p := range api.BuiltinProfiles() {
		got = append(got, p.Name)
		assert.True(t, p.BuiltIn)
		req := api.ProfileRequest{Name: p.Name, Description: p.Description, Schedules: p.Schedules, PITR: p.PITR, NoBackups: p.NoBackups}
		assert.NoError(t, req.Check(), p.Name)
	}
	assert.Equal(t, want, got)
	none, ok := api.BuiltinProfile("none")
	require.True(t, ok)
	assert.True(t, none.NoBackups)
	pitr, _ := api.BuiltinProfile("pitr-2d")
	assert.Equal(t, 48*time.Hour, pitr.PITR.D())
	assert.GreaterOrEqual(t, api.RetentionSpan(pitr.Schedules[0]), pitr.PITR.D(), "base backups reach back over the window")
	hd, _ := api.BuiltinProfile("hourly-24h-daily-14d")
	assert.Equal(t, api.Retention{KeepHourly: 24, KeepDaily: 14}, hd.Schedules[0].Retention)
	_, ok = api.BuiltinProfile("gold")
	assert.False(t, ok)
}

func TestParseProfileSchedule(t *testing.T) {
	s, err := api.ParseProfileSchedule("every=24h offset=3h keep-daily=14")
	require.NoError(t, err)
	assert.Equal(t, api.ProfileSchedule{Every: api.Duration(24 * time.Hour), Offset: api.Duration(3 * time.Hour), Retention: api.Retention{KeepDaily: 14}}, s)
	s, err = api.ParseProfileSchedule("every=2d keep=3 keep-weekly=2")
	require.NoError(t, err)
	assert.Equal(t, 48*time.Hour, s.Every.D())
	assert.Equal(t, api.Retention{KeepLast: 3, KeepWeekly: 2}, s.Retention)
	assert.Equal(t, "every=2d keep-last=3 keep-weekly=2", strings.ReplaceAll(s.String(), "keep=", "keep-last="))

	for in, msg := range map[string]string{
		"keep=3":                  "every= is required",
		"every=1h every=2h":       "given twice",
		"every=1h hourly=3":       "unknown key",
		"every=soon":              "invalid duration",
		"every=1h keep=-1":        "whole number",
		"every 1h":                "not key=value",
		"every=1h offset=":        "not key=value",
		"every=1h keep-daily=1.5": "whole number",
	} {
		_, err := api.ParseProfileSchedule(in)
		require.Error(t, err, in)
		assert.Contains(t, err.Error(), msg, in)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"180d": 180 * 24 * time.Hour, "1d12h": 36 * time.Hour, "90s": 90 * time.Second, "14d": 14 * 24 * time.Hour} {
		got, err := api.ParseDuration(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"d", "x", "2dd", "1.5d"} {
		_, err := api.ParseDuration(in)
		assert.Error(t, err, in)
	}
	assert.Equal(t, "180d", api.FormatDuration(180*24*time.Hour))
	assert.Equal(t, "1d12h", api.FormatDuration(36*time.Hour))
	assert.Equal(t, "1h", api.FormatDuration(time.Hour))
	assert.Equal(t, "1h30m", api.FormatDuration(90*time.Minute))
	assert.Equal(t, "3h34m3s", api.FormatDuration(3*time.Hour+34*time.Minute+3*time.Second))
	assert.Equal(t, "5s", api.FormatDuration(5*time.Second))
}

// Offsets follow the documented rule: the same for a cluster every time,
// inside the interval, spread across clusters, and a cluster's second
// schedule half the shortest interval after its first.
func TestProfileOffsetSpreadsAFleet(t *testing.T) {
	hourly, _ := api.BuiltinProfile("hourly-24h-daily-14d")
	seen := map[time.Duration]bool{}
	for i := range 200 {
		id := "cl-" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26))
		off := api.ProfileOffset(hourly, id, 0)
		assert.Equal(t, off, api.ProfileOffset(hourly, id, 0), "deterministic")
		assert.GreaterOrEqual(t, off, time.Duration(0))
		assert.Less(t, off, time.Hour)
		assert.Equal(t, off, off.Truncate(time.Second))
		seen[off] = true
	}
	assert.Greater(t, len(seen), 150, "200 clusters spread over the hour")

	two := api.Profile{Name: "gold", Schedules: []api.ProfileSchedule{
		{Every: api.Duration(time.Hour)},
		{Every: api.Duration(24 * time.Hour), Offset: api.Duration(3 * time.Hour)},
	}}
	first, second := api.ProfileOffset(two, "c1", 0), api.ProfileOffset(two, "c1", 1)
	assert.Less(t, first, time.Hour)
	assert.GreaterOrEqual(t, second, 3*time.Hour, "the daily one keeps its offset…")
	assert.Less(t, second, 4*time.Hour+30*time.Minute, "…spread within the hour after it, plus half an hour for the slot")
	assert.Equal(t, (3*time.Hour+first+30*time.Minute)%(24*time.Hour), second, "slot 1 is W/2 after slot 0's spread")
	assert.Zero(t, api.ProfileOffset(two, "c1", 5), "no such slot")
}

func TestProfileJobID(t *testing.T) {
	assert.Equal(t, "c1-s0", api.ProfileJobID("c1", 0))
	long := api.ProfileJobID(strings.Repeat("a", 63), 3)
	assert.LessOrEqual(t, len(long), 63)
	assert.True(t, strings.HasSuffix(long, "-s3"))
	assert.Equal(t, long, api.ProfileJobID(strings.Repeat("a", 63), 3))
}

// A profile request's rules: each says what to fix.
func TestProfileRequestCheck(t *testing.T) {
	hourly := api.ProfileSchedule{Every: api.Duration(time.Hour), Retention: api.Retention{KeepHourly: 24}}
	daily := api.ProfileSchedule{Every: api.Duration(24 * time.Hour), Retention: api.Retention{KeepDaily: 3}}
	ok := api.ProfileRequest{Name: "gold", Schedules: []api.ProfileSchedule{hourly, daily}}
	require.NoError(t, ok.Check())
	for name, c := range map[string]struct {
		req api.ProfileRequest
		msg string
	}{
		"no schedules":     {api.ProfileRequest{Name: "a"}, "at least one --schedule"},
		"both":             {api.ProfileRequest{Name: "a", NoBackups: true, Schedules: []api.ProfileSchedule{hourly}}, "--no-backups takes no --schedule"},
		"pitr too long":    {api.ProfileRequest{Name: "a", Schedules: []api.ProfileSchedule{daily}, PITR: api.Duration(14 * 24 * time.Hour)}, "keep base backups only"},
		"sub-hourly":       {api.ProfileRequest{Name: "a", Schedules: []api.ProfileSchedule{{Every: api.Duration(time.Minute), Retention: api.Retention{KeepLast: 1}}}}, "at most hourly"},
		"offset past":      {api.ProfileRequest{Name: "a", Schedules: []api.ProfileSchedule{{Every: api.Duration(time.Hour), Offset: api.Duration(2 * time.Hour), Retention: api.Retention{KeepLast: 1}}}}, "offset=2h0m0s"},
		"bad name":         {api.ProfileRequest{Name: "no way", Schedules: []api.ProfileSchedule{hourly}}, "profile name"},
		"too many":         {api.ProfileRequest{Name: "a", Schedules: []api.ProfileSchedule{hourly, hourly, hourly, hourly, hourly, hourly, hourly, hourly, hourly}}, "schedules"},
		"keeps nothing":    {api.ProfileRequest{Name: "a", Schedules: []api.ProfileSchedule{{Every: api.Duration(time.Hour)}}}, "schedule 1"},
		"pitr no backups":  {api.ProfileRequest{Name: "a", NoBackups: true, PITR: api.Duration(time.Hour)}, "--no-backups takes no --pitr"},
		"pitr over bound":  {api.ProfileRequest{Name: "a", Schedules: []api.ProfileSchedule{daily}, PITR: api.Duration(400 * 24 * time.Hour)}, "--pitr"},
		"long description": {api.ProfileRequest{Name: "a", Schedules: []api.ProfileSchedule{hourly}, Description: strings.Repeat("x", 5000)}, "description"},
	} {
		err := c.req.Check()
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), c.msg, name)
	}
	assert.Error(t, api.PowerRequest{Reason: strings.Repeat("r", 300)}.Check())
	assert.NoError(t, api.PowerRequest{Reason: "plan ended", RequestID: "r-1"}.Check())
	assert.Error(t, api.SetProfileRequest{Profile: ""}.Check())
	assert.Error(t, api.DeleteClusterRequest{RequestID: strings.Repeat("q", 300)}.Check())
}
