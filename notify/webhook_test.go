package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratabackup/strata/api"
)

type received struct {
	header http.Header
	body   []byte
}

// receiver is a real HTTP receiver that records every request and answers
// with the status respond returns (200 when respond is nil).
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []received
	respond func(n int) int // n counts requests from 1
}

func newReceiver(t *testing.T, respond func(n int) int) *receiver {
	r := &receiver{respond: respond}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, received{req.Header.Clone(), body})
		n := len(r.reqs)
		r.mu.Unlock()
		code := http.StatusOK
		if r.respond != nil {
			code = r.respond(n)
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, http.StatusText(code))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

func fixedNow() time.Time { return time.Unix(1740830400, 0) }

func TestWebhookDelivery(t *testing.T) {
	rcv := newReceiver(t, nil)
	s := &Sender{Now: fixedNow, AllowPrivate: true}
	ch := Channel{ID: "ch-1", ProjectID: "proj-1", Kind: Webhook, URL: rcv.srv.URL + "/hook", Secret: "topsecret"}
	ev := testEvent()
	if err := s.Send(t.Context(), ch, ev); err != nil {
		t.Fatal(err)
	}
	reqs := rcv.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	h, body := reqs[0].header, reqs[0].body

	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if got := h.Get("X-Strata-Event-Id"); got != ev.ID {
		t.Errorf("X-Strata-Event-Id = %q, want %q", got, ev.ID)
	}
	if got := h.Get("X-Strata-Event-Type"); got != api.EventBackupDefunct {
		t.Errorf("X-Strata-Event-Type = %q", got)
	}
	ts := h.Get("X-Strata-Timestamp")
	if ts != strconv.FormatInt(fixedNow().Unix(), 10) {
		t.Errorf("X-Strata-Timestamp = %q", ts)
	}
	sig := h.Get("X-Strata-Signature")
	if !strings.HasPrefix(sig, "sha256=") || len(sig) != len("sha256=")+64 {
		t.Errorf("X-Strata-Signature = %q", sig)
	}
	if !Verify("topsecret", ts, body, sig) {
		t.Error("Verify with the right secret failed")
	}
	if Verify("wrongsecret", ts, body, sig) {
		t.Error("Verify with a wrong secret succeeded")
	}
	if Verify("topsecret", "1", body, sig) {
		t.Error("Verify with another timestamp succeeded")
	}
	if Verify("topsecret", ts, append([]byte(" "), body...), sig) {
		t.Error("Verify of a tampered body succeeded")
	}
	if Verify("topsecret", ts, body, strings.TrimPrefix(sig, "sha256=")) {
		t.Error("Verify without the sha256= prefix succeeded")
	}

	// The body's JSON shape: camelCase keys, omitempty for the unset IDs.
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, body)
	}
	want := map[string]any{
		"id": ev.ID, "type": "backup.defunct", "time": "2025-03-01T12:00:00Z",
		"projectId": "proj-1", "clusterId": "demo-3node", "backupId": "bk-x",
		"reason": "ClusterLocked", "summary": ev.Summary, "uiUrl": ev.UIURL,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("body[%q] = %v, want %v", k, m[k], v)
		}
	}
	for _, k := range []string{"jobId", "restoreId", "ID", "ClusterID"} {
		if _, ok := m[k]; ok {
			t.Errorf("body has key %q", k)
		}
	}
	d, _ := m["details"].(map[string]any)
	if d["lockedBy"] != "rs-7" || d["attempts"] != float64(3) {
		t.Errorf("details = %v", m["details"])
	}
	if len(m) != len(want)+1 {
		t.Errorf("body has keys %v", m)
	}
	var back Event
	if err := json.Unmarshal(body, &back); err != nil || back.ID != ev.ID || !back.Time.Equal(ev.Time) {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}

func TestWebhookWithoutSecretIsUnsigned(t *testing.T) {
	rcv := newReceiver(t, nil)
	s := &Sender{AllowPrivate: true}
	ev := testEvent()
	ev.Time = time.Time{} // filled in by Send
	if err := s.Send(t.Context(), Channel{ID: "c", Kind: Webhook, URL: rcv.srv.URL}, ev); err != nil {
		t.Fatal(err)
	}
	r := rcv.requests()[0]
	if r.header.Get("X-Strata-Signature") != "" {
		t.Error("unsigned channel sent a signature")
	}
	var back Event
	if err := json.Unmarshal(r.body, &back); err != nil || back.Time.IsZero() {
		t.Errorf("event time not filled: %+v %v", back, err)
	}
}

func TestChatDelivery(t *testing.T) {
	rcv := newReceiver(t, nil)
	s := &Sender{AllowPrivate: true}
	ev := testEvent()
	if err := s.Send(t.Context(), Channel{ID: "c", Kind: Chat, URL: rcv.srv.URL + "/services/T/B/X"}, ev); err != nil {
		t.Fatal(err)
	}
	r := rcv.requests()[0]
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	if len(m) != 1 {
		t.Errorf("chat payload has keys %v, want only text", m)
	}
	text, _ := m["text"].(string)
	for _, want := range []string{"backup.defunct", "demo-3node", "bk-x", "Defunct", "ClusterLocked", "<" + ev.UIURL + "|Open in Temporal UI>", ev.ID} {
		if !strings.Contains(text, want) {
			t.Errorf("chat text %q does not mention %q", text, want)
		}
	}
	if strings.Contains(text, "\n") {
		t.Errorf("chat text is not one paragraph: %q", text)
	}
}

// TestRetryUntilAccepted simulates the caller's retries against a receiver
// that fails the first three POSTs with 503.
func TestRetryUntilAccepted(t *testing.T) {
	var mu sync.Mutex
	accepted := map[string]int{}
	var ids []string
	attempts := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		id := r.Header.Get("X-Strata-Event-Id")
		ids = append(ids, id)
		if attempts <= 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		accepted[id]++
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()

	s := &Sender{AllowPrivate: true}
	ch := Channel{ID: "ch-r", Kind: Webhook, URL: srv.URL, Secret: "k"}
	ev := testEvent()
	var err error
	tries := 0
	for tries < 10 {
		tries++
		err = s.Send(t.Context(), ch, ev)
		if err == nil || !IsRetryable(err) {
			break
		}
		var de *DeliveryError
		if !errors.As(err, &de) || de.StatusCode != http.StatusServiceUnavailable || de.Channel != "ch-r" {
			t.Fatalf("attempt %d: %#v", tries, err)
		}
	}
	if err != nil {
		t.Fatalf("after %d tries: %v", tries, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if tries != 4 || attempts != 4 {
		t.Errorf("tries = %d, receiver attempts = %d, want 4 and 4", tries, attempts)
	}
	if len(accepted) != 1 || accepted[ev.ID] != 1 {
		t.Errorf("accepted = %v, want exactly one delivery of %s", accepted, ev.ID)
	}
	for i, id := range ids {
		if id != ev.ID {
			t.Errorf("attempt %d carried event ID %q, want %q", i+1, id, ev.ID)
		}
	}
}

func TestHTTPErrorClassification(t *testing.T) {
	cases := []struct {
		code      int
		retryable bool
	}{
		{http.StatusBadRequest, false},
		{http.StatusUnauthorized, false},
		{http.StatusNotFound, false},
		{http.StatusGone, false},
		{http.StatusRequestTimeout, true},
		{http.StatusTooManyRequests, true},
		{http.StatusInternalServerError, true},
		{http.StatusBadGateway, true},
		{http.StatusServiceUnavailable, true},
	}
	s := &Sender{AllowPrivate: true}
	for _, tc := range cases {
		for _, kind := range []Kind{Webhook, Chat} {
			rcv := newReceiver(t, func(int) int { return tc.code })
			err := s.Send(t.Context(), Channel{ID: "c", Kind: kind, URL: rcv.srv.URL + "/secret-token"}, testEvent())
			var de *DeliveryError
			if !errors.As(err, &de) {
				t.Fatalf("%s %d: err = %v, want *DeliveryError", kind, tc.code, err)
			}
			if de.Retryable != tc.retryable || de.StatusCode != tc.code || IsRetryable(err) != tc.retryable {
				t.Errorf("%s %d: retryable = %v (status %d), want %v", kind, tc.code, de.Retryable, de.StatusCode, tc.retryable)
			}
			if strings.Contains(err.Error(), "secret-token") {
				t.Errorf("error leaks the URL path: %v", err)
			}
		}
	}
}

func TestNetworkErrorsAreRetryable(t *testing.T) {
	// A closed server: connection refused.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/services/T/B/token"
	srv.Close()
	s := &Sender{AllowPrivate: true}
	err := s.Send(t.Context(), Channel{ID: "c", Kind: Chat, URL: url}, testEvent())
	if !IsRetryable(err) {
		t.Fatalf("connection refused: err = %v, want retryable", err)
	}
	if strings.Contains(err.Error(), "token") {
		t.Errorf("error leaks the URL path: %v", err)
	}

	// A receiver that never answers: the client's timeout.
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	s = &Sender{AllowPrivate: true, HTTPClient: &http.Client{Timeout: 100 * time.Millisecond}}
	err = s.Send(t.Context(), Channel{ID: "c", Kind: Webhook, URL: hang.URL}, testEvent())
	if !IsRetryable(err) {
		t.Fatalf("timeout: err = %v, want retryable", err)
	}

	// The caller's deadline.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err = (&Sender{AllowPrivate: true}).Send(ctx, Channel{ID: "c", Kind: Webhook, URL: hang.URL}, testEvent())
	if !IsRetryable(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: err = %v, want retryable DeadlineExceeded", err)
	}
}

func TestTLSCertificateErrorIsPermanent(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	// The default client does not trust httptest's certificate.
	err := (&Sender{AllowPrivate: true}).Send(t.Context(), Channel{ID: "c", Kind: Webhook, URL: srv.URL}, testEvent())
	var de *DeliveryError
	if !errors.As(err, &de) || de.Retryable {
		t.Fatalf("err = %v, want permanent certificate error", err)
	}
}
