package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/stratabackup/strata/api/validate"
)

// Webhook headers.
const (
	HeaderEventID   = "X-Strata-Event-Id"
	HeaderEventType = "X-Strata-Event-Type"
	HeaderTimestamp = "X-Strata-Timestamp"
	HeaderSignature = "X-Strata-Signature"
)

// Sign returns the X-Strata-Signature value for a body sent at timestamp
// (unix seconds, as sent in X-Strata-Timestamp):
// "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature (the X-Strata-Signature header) is the
// signature of body sent at timestamp (the X-Strata-Timestamp header) with
// secret. It compares in constant time. Receivers should also reject
// timestamps far from their clock (e.g. older than 5 minutes) to stop
// replays, and drop events whose ID they have already seen.
func Verify(secret string, timestamp string, body []byte, signature string) bool {
	if secret == "" || timestamp == "" || !strings.HasPrefix(signature, "sha256=") {
		return false
	}
	return hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(signature))
}

func (s *Sender) sendWebhook(ctx context.Context, ch Channel, ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return permanent(ch, 0, fmt.Errorf("encoding event: %w", err))
	}
	ts := strconv.FormatInt(s.now().Unix(), 10)
	h := http.Header{}
	h.Set(HeaderEventID, ev.ID)
	h.Set(HeaderEventType, ev.Type)
	h.Set(HeaderTimestamp, ts)
	if ch.Secret != "" {
		h.Set(HeaderSignature, Sign(ch.Secret, ts, body))
	}
	return s.post(ctx, ch, body, h)
}

// post sends a JSON body and classifies the outcome: 2xx is delivered, 408,
// 429 and 5xx are retryable, other statuses are not.
func (s *Sender) post(ctx context.Context, ch Channel, body []byte, h http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ch.URL, bytes.NewReader(body))
	if err != nil {
		return permanent(ch, 0, err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "strata-notify/1")
	resp, err := s.httpClient().Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = RedactURL(ch.URL)
		}
		var de *DestinationError
		if errors.As(err, &de) {
			return permanent(ch, 0, fmt.Errorf("POST %s: %w", RedactURL(ch.URL), de))
		}
		if isCertError(err) {
			return permanent(ch, 0, err)
		}
		return retryable(ch, 0, err) // network error, timeout, cancellation
	}
	defer resp.Body.Close()
	// The receiver's body is not kept: it could be anything, and errors end
	// up in workflow history and logs. Only the status code is.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("POST %s: HTTP %d %s", RedactURL(ch.URL), resp.StatusCode, http.StatusText(resp.StatusCode))
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return permanent(ch, resp.StatusCode, fmt.Errorf("%w: redirects are not followed (the signed event must not be sent elsewhere); give the final URL", err))
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode >= 500:
		return retryable(ch, resp.StatusCode, err)
	default:
		return permanent(ch, resp.StatusCode, err)
	}
}

// isCertError reports a TLS certificate problem: configuration, not luck.
func isCertError(err error) bool {
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	var hn x509.HostnameError
	var cv *tls.CertificateVerificationError
	return errors.As(err, &ua) || errors.As(err, &ci) || errors.As(err, &hn) || errors.As(err, &cv)
}

// RedactURL keeps scheme and host only (validate.RedactURL): chat webhook
// URLs carry their token in the path, and errors end up in logs and
// workflow histories.
func RedactURL(raw string) string { return validate.RedactURL(raw) }
