package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"sort"
	"strings"
	"time"
)

// DefaultFrom is the sender address when a channel sets no From.
const DefaultFrom = "strata@localhost"

// smtpTimeout bounds a whole SMTP conversation when ctx has no earlier
// deadline.
const smtpTimeout = 60 * time.Second

// sendEmail delivers ev with net/smtp: dial, EHLO, STARTTLS when offered
// (implicit TLS on port 465), AUTH PLAIN when SMTPUser is set, MAIL, RCPT,
// DATA, QUIT.
//
// The password is read from the worker's environment variable
// SMTPPasswordEnv; an empty value is a permanent error naming the variable.
// net/smtp refuses PLAIN auth over an unencrypted connection to any host but
// localhost; Send reports that case up front as a permanent error (the
// server must offer STARTTLS, or use port 465) instead of sending the
// password in clear.
func (s *Sender) sendEmail(ctx context.Context, ch Channel, ev Event) error {
	host, port, _ := net.SplitHostPort(ch.SMTPHost) // Validate checked the form
	var password string
	if ch.SMTPUser != "" {
		password = s.getenv(ch.SMTPPasswordEnv)
		if password == "" {
			return permanent(ch, 0, fmt.Errorf("SMTP password environment variable %s is empty or not set on the worker (--smtp-password-env)", ch.SMTPPasswordEnv))
		}
	}
	from := ch.From
	if from == "" {
		from = DefaultFrom
	}
	fromAddr, err := mail.ParseAddress(from)
	if err != nil {
		return permanent(ch, 0, fmt.Errorf("--from %q: %v", from, err))
	}
	toAddr, err := mail.ParseAddress(ch.Email)
	if err != nil {
		return permanent(ch, 0, fmt.Errorf("--email %q: %v", ch.Email, err))
	}
	msg, err := s.emailMessage(fromAddr, toAddr, ev)
	if err != nil {
		return permanent(ch, 0, err)
	}

	tlsConf := s.tlsConfig(host)
	conn, err := s.dialSMTP(ctx, ch.SMTPHost)
	if isDestinationError(err) {
		return permanent(ch, 0, fmt.Errorf("dialing SMTP server %s: %w", ch.SMTPHost, err))
	}
	if err != nil {
		return retryable(ch, 0, fmt.Errorf("dialing SMTP server %s: %w", ch.SMTPHost, err))
	}
	defer conn.Close()
	deadline := time.Now().Add(smtpTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)
	// Cancelling ctx interrupts any blocked read or write.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if port == "465" { // SMTPS: TLS from the first byte
		tc := tls.Client(conn, tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			return s.smtpErr(ctx, ch, "TLS handshake", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return s.smtpErr(ctx, ch, "greeting", err)
	}
	defer c.Close()
	if err := c.Hello(localName()); err != nil {
		return s.smtpErr(ctx, ch, "EHLO", err)
	}
	if _, isTLS := c.TLSConnectionState(); !isTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tlsConf); err != nil {
				return s.smtpErr(ctx, ch, "STARTTLS", err)
			}
		}
	}
	if ch.SMTPUser != "" {
		if _, isTLS := c.TLSConnectionState(); !isTLS && !isLocalhost(host) {
			return permanent(ch, 0, fmt.Errorf("SMTP server %s offers no STARTTLS; refusing to send the password of --smtp-user over an unencrypted connection (use a server with STARTTLS, or port 465)", ch.SMTPHost))
		}
		if ok, _ := c.Extension("AUTH"); !ok {
			return permanent(ch, 0, fmt.Errorf("SMTP server %s does not offer AUTH, but --smtp-user is set", ch.SMTPHost))
		}
		if err := c.Auth(smtp.PlainAuth("", ch.SMTPUser, password, host)); err != nil {
			return s.smtpErr(ctx, ch, "AUTH", err)
		}
	}
	if err := c.Mail(fromAddr.Address); err != nil {
		return s.smtpErr(ctx, ch, "MAIL FROM", err)
	}
	if err := c.Rcpt(toAddr.Address); err != nil {
		return s.smtpErr(ctx, ch, "RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return s.smtpErr(ctx, ch, "DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return s.smtpErr(ctx, ch, "DATA", err)
	}
	if err := w.Close(); err != nil { // the server's verdict on the message
		return s.smtpErr(ctx, ch, "DATA", err)
	}
	_ = c.Quit() // the message is accepted; a failing QUIT changes nothing
	return nil
}

func (s *Sender) tlsConfig(host string) *tls.Config {
	var c *tls.Config
	if s.TLSConfig != nil {
		c = s.TLSConfig.Clone()
	} else {
		c = &tls.Config{}
	}
	if c.ServerName == "" {
		c.ServerName = host
	}
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}

// smtpErr classifies an SMTP failure: 4xx replies, network errors and
// timeouts are retryable; 5xx replies (rejections, bad credentials) and
// certificate problems are not.
func (s *Sender) smtpErr(ctx context.Context, ch Channel, step string, err error) error {
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		// The server's reply text is its own: keep it short and printable.
		err = fmt.Errorf("SMTP %s at %s: %d %s", step, ch.SMTPHost, te.Code, sanitize(te.Msg))
		if te.Code >= 400 && te.Code < 500 {
			return retryable(ch, te.Code, err)
		}
		return permanent(ch, te.Code, err)
	}
	err = fmt.Errorf("SMTP %s at %s: %w", step, ch.SMTPHost, err)
	if isCertError(err) {
		return permanent(ch, 0, err)
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || ctx.Err() != nil {
		return retryable(ch, 0, err)
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return retryable(ch, 0, err)
	}
	// net/smtp's own refusals (e.g. "unencrypted connection", "wrong host
	// name") are configuration problems.
	return permanent(ch, 0, err)
}

// isLocalhost mirrors net/smtp's rule for allowing PLAIN auth without TLS.
func isLocalhost(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

func localName() string {
	return "localhost"
}

// MessageID is the Message-ID of the email for an event: the same event
// gives the same Message-ID, so mail clients can fold duplicates.
func MessageID(ev Event) string {
	id := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' {
			return r
		}
		return '_'
	}, ev.ID)
	return "<" + id + "@strata.invalid>"
}

// emailMessage renders the RFC 5322 message: headers, then a quoted-printable
// plain-text body with the event's fields and its JSON.
func (s *Sender) emailMessage(from, to *mail.Address, ev Event) ([]byte, error) {
	var buf bytes.Buffer
	hdr := func(k, v string) { fmt.Fprintf(&buf, "%s: %s\r\n", k, v) }
	subject := strings.TrimSpace(oneLine(ev.Summary))
	if subject == "" {
		subject = Headline(ev)
	}
	hdr("From", from.String())
	hdr("To", to.String())
	hdr("Subject", mime.QEncoding.Encode("utf-8", "[Strata] "+subject))
	hdr("Date", s.now().Format(time.RFC1123Z))
	hdr("Message-ID", MessageID(ev))
	hdr("X-Strata-Event-Id", headerSafe(ev.ID))
	hdr("X-Strata-Event-Type", headerSafe(ev.Type))
	hdr("Auto-Submitted", "auto-generated")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", `text/plain; charset="utf-8"`)
	hdr("Content-Transfer-Encoding", "quoted-printable")
	buf.WriteString("\r\n")

	qp := quotedprintable.NewWriter(&buf)
	if _, err := io.WriteString(qp, EmailBody(ev)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// EmailBody is the plain-text body of an event's email (before transfer
// encoding).
func EmailBody(ev Event) string {
	var b strings.Builder
	b.WriteString(Headline(ev))
	if ev.Reason != "" {
		b.WriteString(": " + ev.Reason)
	}
	b.WriteString("\n\n")
	if ev.Summary != "" {
		b.WriteString(ev.Summary + "\n\n")
	}
	field := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-11s %s\n", k+":", v)
		}
	}
	field("Event", ev.Type)
	field("Time", ev.Time.UTC().Format(time.RFC3339))
	field("Project", ev.ProjectID)
	field("Cluster", ev.ClusterID)
	field("Backup", ev.BackupID)
	field("Job", ev.JobID)
	field("Restore", ev.RestoreID)
	field("Reason", ev.Reason)
	field("Web UI", ev.UIURL)
	if len(ev.Details) > 0 {
		keys := make([]string, 0, len(ev.Details))
		for k := range ev.Details {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("Details:\n")
		for _, k := range keys {
			fmt.Fprintf(&b, "  %s: %v\n", k, ev.Details[k])
		}
	}
	field("Event ID", ev.ID)
	js, err := json.MarshalIndent(ev, "", "  ")
	if err == nil {
		b.WriteString("\nEvent JSON:\n")
		b.Write(js)
		b.WriteString("\n")
	}
	return b.String()
}

func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}
