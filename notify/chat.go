package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/stratabackup/strata/api"
)

// ChatText is the one-paragraph message sent to chat channels, e.g.
//
//	:rotating_light: [backup.defunct] Backup bk-x of cluster demo-3node is Defunct: ClusterLocked: cluster is locked by restore rs-1 <http://ui/...|Open in Temporal UI> (event ev-0123...)
//
// It names the event type, the objects concerned, the reason, the summary,
// a link to the Web UI when UIURL is set and the event ID (so people can
// spot duplicates). Text from the event is escaped for the <url|label> link
// syntax shared by Slack, Mattermost and Google Chat.
func ChatText(ev Event) string {
	var b strings.Builder
	b.WriteString(emoji(ev.Type))
	b.WriteString(" [")
	b.WriteString(esc(ev.Type))
	b.WriteString("] ")
	b.WriteString(esc(Headline(ev)))
	if ev.Reason != "" {
		b.WriteString(": ")
		b.WriteString(esc(ev.Reason))
	}
	if s := strings.TrimSpace(ev.Summary); s != "" {
		b.WriteString(": ")
		b.WriteString(esc(oneLine(s)))
	}
	if ev.UIURL != "" {
		fmt.Fprintf(&b, " <%s|Open in Temporal UI>", strings.NewReplacer("|", "%7C", ">", "%3E", " ", "%20").Replace(ev.UIURL))
	}
	fmt.Fprintf(&b, " (event %s)", esc(ev.ID))
	return b.String()
}

// Headline says what happened to what, without reason or summary, e.g.
// "Backup bk-x of cluster demo-3node is Defunct".
func Headline(ev Event) string {
	ofCluster := ""
	if ev.ClusterID != "" {
		ofCluster = " of cluster " + ev.ClusterID
	}
	onCluster := ""
	if ev.ClusterID != "" {
		onCluster = " on cluster " + ev.ClusterID
	}
	cluster := ev.ClusterID
	if cluster == "" {
		cluster = "(unknown)"
	}
	withID := func(noun, id string) string {
		if id == "" {
			return noun
		}
		return noun + " " + id
	}
	switch ev.Type {
	case api.EventBackupDefunct:
		return withID("Backup", ev.BackupID) + ofCluster + " is Defunct"
	case api.EventRestoreFailed:
		s := withID("Restore", ev.RestoreID)
		if ev.BackupID != "" {
			s += " of backup " + ev.BackupID
		}
		return s + ofCluster + " failed"
	case api.EventScheduleRunSkipped:
		return "Scheduled run of " + withID("job", ev.JobID) + onCluster + " was skipped"
	case api.EventScheduleRunMissed:
		return "Scheduled run of " + withID("job", ev.JobID) + onCluster + " was missed"
	case api.EventDeletionFailing:
		return "Deleting " + withID("backup", ev.BackupID) + ofCluster + " keeps failing"
	case api.EventOrphansDeleted:
		return "Orphaned storage objects" + ofCluster + " were deleted"
	case api.EventFreshnessViolated:
		return "Backups of cluster " + cluster + " are not fresh"
	case api.EventFreshnessRecovered:
		return "Backups of cluster " + cluster + " are fresh again"
	case api.EventArchiveStalled:
		return "WAL archiving of cluster " + cluster + " is stalled"
	case api.EventArchiveRecovered:
		return "WAL archiving of cluster " + cluster + " caught up"
	default:
		return "Strata event " + ev.Type + ofCluster
	}
}

func emoji(typ string) string {
	switch typ {
	case api.EventBackupDefunct, api.EventRestoreFailed:
		return ":rotating_light:"
	case api.EventFreshnessViolated, api.EventDeletionFailing, api.EventArchiveStalled:
		return ":warning:"
	case api.EventScheduleRunSkipped, api.EventScheduleRunMissed:
		return ":alarm_clock:"
	case api.EventFreshnessRecovered, api.EventArchiveRecovered:
		return ":white_check_mark:"
	default:
		return ":information_source:"
	}
}

// esc escapes the characters the chat link syntax treats specially.
func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func (s *Sender) sendChat(ctx context.Context, ch Channel, ev Event) error {
	body, err := json.Marshal(map[string]string{"text": ChatText(ev)})
	if err != nil {
		return permanent(ch, 0, err)
	}
	return s.post(ctx, ch, body, nil)
}
