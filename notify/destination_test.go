package notify

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
)

func TestRefusalOfAddresses(t *testing.T) {
	for addr, want := range map[string]string{
		"8.8.8.8":                "",
		"2001:4860:4860::8888":   "",
		"127.0.0.1":              "loopback",
		"::1":                    "loopback",
		"::ffff:127.0.0.1":       "loopback",
		"10.1.2.3":               "private",
		"172.16.0.1":             "private",
		"192.168.1.1":            "private",
		"fd12::1":                "private",
		"100.64.0.1":             "private",
		"169.254.10.1":           "link-local",
		"fe80::1":                "link-local",
		"0.0.0.0":                "unspecified",
		"::":                     "unspecified",
		"239.1.2.3":              "multicast",
		"169.254.169.254":        "metadata",
		"fd00:ec2::254":          "metadata",
		"::ffff:169.254.169.254": "metadata",
	} {
		got := refusal(netip.MustParseAddr(addr), false)
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("refusal(%s) = %q, want one about %q", addr, got, want)
		}
		allowed := refusal(netip.MustParseAddr(addr), true)
		if (want == "metadata") != (allowed != "") {
			t.Errorf("with --notify-allow-private, refusal(%s) = %q: only metadata addresses stay refused", addr, allowed)
		}
	}
}

// By default a delivery never reaches the worker's own loopback or private
// network, whatever name the URL uses (checked on the dialed address, so a
// name resolving there later is caught too).
func TestDeliveriesRefusePrivateDestinations(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	for _, url := range []string{srv.URL, "http://localhost" + port + "/hook"} {
		err := (&Sender{}).Send(t.Context(), Channel{ID: "c", Kind: Webhook, URL: url}, testEvent())
		var de *DeliveryError
		if !errors.As(err, &de) || de.Retryable {
			t.Fatalf("%s: err = %v, want a permanent refusal", url, err)
		}
		if !isDestinationError(err) || !strings.Contains(err.Error(), "--notify-allow-private") {
			t.Fatalf("%s: err = %v, want it to say why and what allows it", url, err)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("the refused destination was reached %d times", hits.Load())
	}
	if err := (&Sender{AllowPrivate: true}).Send(t.Context(), Channel{ID: "c", Kind: Webhook, URL: srv.URL}, testEvent()); err != nil {
		t.Fatalf("with AllowPrivate: %v", err)
	}
	if hits.Load() != 1 {
		t.Fatalf("hits = %d, want 1", hits.Load())
	}
}

// A receiver's redirect is not followed: the signed event must not be
// re-sent wherever the receiver points.
func TestRedirectsAreNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(target.Close)
	bouncer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(bouncer.Close)
	err := (&Sender{AllowPrivate: true}).Send(t.Context(), Channel{ID: "c", Kind: Webhook, URL: bouncer.URL, Secret: "s3cret"}, testEvent())
	var de *DeliveryError
	if !errors.As(err, &de) || de.Retryable || de.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("err = %v, want a permanent failure with status 307", err)
	}
	if !strings.Contains(err.Error(), "redirects are not followed") {
		t.Fatalf("err = %v", err)
	}
	if elsewhere.Load() != 0 {
		t.Fatal("the redirect target received the event")
	}
}

// A failed response's body never reaches the error (and so history and
// logs): only a short status line does.
func TestFailedResponseBodyIsNotKept(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "internal token=AKIA-LEAK \x1b[31m"+strings.Repeat("x", 10000))
	}))
	t.Cleanup(srv.Close)
	err := (&Sender{AllowPrivate: true}).Send(t.Context(), Channel{ID: "c", Kind: Chat, URL: srv.URL + "/hooks/T0/B0/tok3n"}, testEvent())
	if err == nil {
		t.Fatal("want an error")
	}
	msg := err.Error()
	if strings.Contains(msg, "AKIA-LEAK") || strings.Contains(msg, "\x1b") || strings.Contains(msg, "tok3n") || len(msg) > 300 {
		t.Fatalf("error keeps more than a status line: %q", msg)
	}
	if !strings.Contains(msg, "HTTP 500 Internal Server Error") {
		t.Fatalf("error %q lacks the status", msg)
	}
}

func TestChannelRulesRefuseExfiltration(t *testing.T) {
	for name, tc := range map[string]struct {
		ch   Channel
		want string
	}{
		"another env var":  {Channel{Kind: Email, Email: "a@b.c", SMTPHost: "h:587", SMTPUser: "u", SMTPPasswordEnv: "AWS_SECRET_ACCESS_KEY"}, "only STRATA_SMTP_PASSWORD"},
		"prefix lookalike": {Channel{Kind: Email, Email: "a@b.c", SMTPHost: "h:587", SMTPUser: "u", SMTPPasswordEnv: "STRATA_SMTP_PASSWORDX"}, "only STRATA_SMTP_PASSWORD"},
		"userinfo":         {Channel{Kind: Webhook, URL: "https://user:pass@hooks.example/x"}, "user:password@"},
		"metadata literal": {Channel{Kind: Webhook, URL: "http://169.254.169.254/latest/meta-data/"}, "metadata"},
		"metadata ipv6":    {Channel{Kind: Chat, URL: "http://[fd00:ec2::254]/"}, "metadata"},
		"huge url":         {Channel{Kind: Webhook, URL: "https://h.example/" + strings.Repeat("a", 3000)}, "at most 2048"},
		"huge secret":      {Channel{Kind: Webhook, URL: "https://h.example/", Secret: strings.Repeat("s", 300)}, "at most 256"},
	} {
		err := tc.ch.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want an error about %q", name, err, tc.want)
		}
	}
	for _, ok := range []string{"STRATA_SMTP_PASSWORD", "STRATA_SMTP_PASSWORD_OPS", "STRATA_SMTP_PASSWORD_TEAM_2"} {
		ch := Channel{Kind: Email, Email: "a@b.c", SMTPHost: "h:587", SMTPUser: "u", SMTPPasswordEnv: ok}
		if err := ch.Validate(); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	// Existing channels are checked again at delivery.
	err := (&Sender{Getenv: func(string) string { return "leak" }}).Send(t.Context(), Channel{ID: "c", Kind: Email, Email: "a@b.c", SMTPHost: "h:587", SMTPUser: "u", SMTPPasswordEnv: "AWS_SECRET_ACCESS_KEY"}, testEvent())
	if err == nil || IsRetryable(err) {
		t.Fatalf("delivery with a foreign env var: %v", err)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.example":                       "https://hooks.example",
		"https://hooks.example/":                      "https://hooks.example",
		"https://hooks.example/services/T0/B0/secret": "https://hooks.example/...",
		"https://hooks.example/?token=abc":            "https://hooks.example/...",
		"https://u:p@hooks.example/x":                 "https://hooks.example/...",
		"::bad":                                       "(invalid URL)",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
