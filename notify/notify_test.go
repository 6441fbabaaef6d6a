package notify

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stratabackup/strata/api"
)

func testEvent() Event {
	return Event{
		ID:        EventID(api.EventBackupDefunct, "bk-x", "run-1"),
		Type:      api.EventBackupDefunct,
		Time:      time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		ProjectID: "proj-1",
		ClusterID: "demo-3node",
		BackupID:  "bk-x",
		Reason:    "ClusterLocked",
		Summary:   "cluster demo-3node is locked by restore rs-7",
		UIURL:     "http://127.0.0.1:8233/namespaces/default/workflows/backup-bk-x",
		Details:   map[string]any{"attempts": 3, "lockedBy": "rs-7"},
	}
}

func TestEventID(t *testing.T) {
	a := EventID(api.EventBackupDefunct, "bk-x", "run-1")
	if a != EventID(api.EventBackupDefunct, "bk-x", "run-1") {
		t.Fatal("EventID is not deterministic")
	}
	if !strings.HasPrefix(a, "ev-") || len(a) != 23 {
		t.Fatalf("EventID = %q, want ev- + 20 hex", a)
	}
	if a == EventID(api.EventBackupDefunct, "bk-x", "run-2") {
		t.Fatal("different parts gave the same ID")
	}
	if EventID("a", "bc") == EventID("ab", "c") {
		t.Fatal("part boundaries are ambiguous")
	}
}

func TestEventJSONShape(t *testing.T) {
	b, err := json.Marshal(Event{ID: "ev-1", Type: api.EventOrphansDeleted, Time: time.Unix(0, 0).UTC(), Summary: "s"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"ev-1","type":"orphans.deleted","time":"1970-01-01T00:00:00Z","summary":"s"}`
	if string(b) != want {
		t.Fatalf("minimal event JSON\n got %s\nwant %s", b, want)
	}
}

func TestChannelJSONHidesSecret(t *testing.T) {
	b, err := json.Marshal(Channel{ID: "c1", ProjectID: "p", Kind: Webhook, URL: "https://x.example/h", Secret: "s3cr3t"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "s3cr3t") {
		t.Fatalf("secret marshalled: %s", b)
	}
	want := `{"id":"c1","projectId":"p","kind":"webhook","url":"https://x.example/h"}`
	if string(b) != want {
		t.Fatalf("got %s want %s", b, want)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name    string
		ch      Channel
		wantErr string // substring; "" means valid
	}{
		{"webhook ok", Channel{Kind: Webhook, URL: "https://hooks.example.com/x", Secret: "k"}, ""},
		{"webhook http ok", Channel{Kind: Webhook, URL: "http://10.0.0.1:8080/x"}, ""},
		{"chat ok", Channel{Kind: Chat, URL: "https://hooks.slack.com/services/T/B/X"}, ""},
		{"email ok", Channel{Kind: Email, Email: "ops@example.com", SMTPHost: "smtp.example.com:587"}, ""},
		{"email auth ok", Channel{Kind: Email, Email: "Ops <ops@example.com>", SMTPHost: "smtp.example.com:587", SMTPUser: "u", SMTPPasswordEnv: "STRATA_SMTP_PASSWORD_MAIL", From: "strata@example.com"}, ""},
		{"no kind", Channel{}, "exactly one of --webhook URL, --chat URL or --email ADDR"},
		{"unknown kind", Channel{Kind: "pager", URL: "https://x"}, `unknown channel kind "pager"`},
		{"webhook no url", Channel{Kind: Webhook}, "--webhook URL is required"},
		{"webhook ftp", Channel{Kind: Webhook, URL: "ftp://x.example/h"}, "--webhook URL \"ftp://x.example/...\" must be http(s)"},
		{"webhook no host", Channel{Kind: Webhook, URL: "https:///h"}, "--webhook URL \"(invalid URL)\" has no host"},
		{"chat bad url", Channel{Kind: Chat, URL: "hooks.slack.com/x"}, "--chat URL"},
		{"chat with secret", Channel{Kind: Chat, URL: "https://x.example", Secret: "k"}, "--secret applies to --webhook only"},
		{"webhook plus email", Channel{Kind: Webhook, URL: "https://x.example", Email: "a@b.c"}, "exactly one of --webhook, --chat or --email"},
		{"email plus url", Channel{Kind: Email, URL: "https://x.example", Email: "a@b.c", SMTPHost: "h:25"}, "exactly one of --webhook, --chat or --email"},
		{"email missing", Channel{Kind: Email, SMTPHost: "h:25"}, "--email ADDR is required"},
		{"email invalid", Channel{Kind: Email, Email: "not an address", SMTPHost: "h:25"}, `--email "not an address" is not a valid address`},
		{"smtp missing", Channel{Kind: Email, Email: "a@b.c"}, "--smtp HOST:PORT"},
		{"smtp no port", Channel{Kind: Email, Email: "a@b.c", SMTPHost: "smtp.example.com"}, `--smtp "smtp.example.com" must be HOST:PORT`},
		{"smtp bad port", Channel{Kind: Email, Email: "a@b.c", SMTPHost: "smtp.example.com:smtp"}, "port must be a number"},
		{"user without env", Channel{Kind: Email, Email: "a@b.c", SMTPHost: "h:587", SMTPUser: "u"}, "--smtp-user requires --smtp-password-env"},
		{"env without user", Channel{Kind: Email, Email: "a@b.c", SMTPHost: "h:587", SMTPPasswordEnv: "STRATA_SMTP_PASSWORD_OPS"}, "--smtp-password-env requires --smtp-user"},
		{"bad from", Channel{Kind: Email, Email: "a@b.c", SMTPHost: "h:587", From: "nope"}, `--from "nope" is not a valid address`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.ch.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestSendInvalidChannelIsPermanent(t *testing.T) {
	var s Sender
	err := s.Send(t.Context(), Channel{ID: "c1", Kind: Webhook, URL: "ftp://x"}, testEvent())
	var de *DeliveryError
	if !errors.As(err, &de) || de.Retryable || de.Channel != "c1" {
		t.Fatalf("Send = %#v, want permanent DeliveryError for c1", err)
	}
	err = s.Send(t.Context(), Channel{ID: "c1", Kind: Webhook, URL: "https://x.example"}, Event{Type: api.EventBackupDefunct})
	if !errors.As(err, &de) || de.Retryable {
		t.Fatalf("Send without event ID = %v, want permanent error", err)
	}
}

func TestChatText(t *testing.T) {
	ev := testEvent()
	ev.Summary = "a <b> & c"
	got := ChatText(ev)
	want := ":rotating_light: [backup.defunct] Backup bk-x of cluster demo-3node is Defunct: ClusterLocked: a &lt;b&gt; &amp; c <" + ev.UIURL + "|Open in Temporal UI> (event " + ev.ID + ")"
	if got != want {
		t.Fatalf("ChatText\n got %s\nwant %s", got, want)
	}
	for _, typ := range []string{api.EventRestoreFailed, api.EventScheduleRunSkipped, api.EventScheduleRunMissed, api.EventDeletionFailing, api.EventOrphansDeleted, api.EventFreshnessViolated, api.EventFreshnessRecovered, "x.y"} {
		txt := ChatText(Event{ID: "ev-1", Type: typ, ClusterID: "c9", JobID: "j1", RestoreID: "rs-1", BackupID: "bk-1"})
		if !strings.Contains(txt, "["+typ+"]") || !strings.Contains(txt, "c9") || strings.Contains(txt, "Temporal UI") {
			t.Errorf("ChatText(%s) = %q", typ, txt)
		}
	}
}
