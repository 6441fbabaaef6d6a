package validate

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRecoveryTarget(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	zero := time.Time{}
	for _, c := range []struct {
		name string
		t    RecoveryTarget
		want []string
	}{
		{"none", RecoveryTarget{}, nil},
		{"time", RecoveryTarget{Time: &at}, nil},
		{"lsn", RecoveryTarget{LSN: "16/B374D848"}, nil},
		{"name", RecoveryTarget{Name: "before-migration_2.1"}, nil},
		{"zero time", RecoveryTarget{Time: &zero}, []string{"toTime"}},
		{"bad lsn", RecoveryTarget{LSN: "16"}, []string{"toLsn"}},
		{"lsn too long", RecoveryTarget{LSN: "123456789/0"}, []string{"toLsn"}},
		{"lsn not hex", RecoveryTarget{LSN: "0/XYZ"}, []string{"toLsn"}},
		{"quote in name", RecoveryTarget{Name: "a'b"}, []string{"toName"}},
		{"name starts with dash", RecoveryTarget{Name: "-a"}, []string{"toName"}},
		{"long name", RecoveryTarget{Name: strings.Repeat("a", 64)}, []string{"at most 63"}},
		{"two targets", RecoveryTarget{Time: &at, Name: "x"}, []string{"at most one of toTime"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := c.t.Check()
			if c.want == nil {
				assert.Empty(t, got)
				return
			}
			joined := strings.Join(got, "; ")
			for _, w := range c.want {
				assert.Contains(t, joined, w)
			}
		})
	}
	assert.NotEmpty(t, VerifySQL("verifySql", strings.Repeat("x", MaxVerifySQLLen+1)))
	assert.Empty(t, VerifySQL("verifySql", "SELECT 1"))
}
