package notify

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCert generates a self-signed certificate for 127.0.0.1 and returns it
// with a client config that trusts it.
func testCert(t *testing.T) (server *tls.Config, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "strata test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("127.0.0.2")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool}
}

// smtpMessage is what the test server received in one transaction.
type smtpMessage struct {
	TLS      bool
	AuthUser string
	Helo     string
	From     string
	Rcpt     []string
	Data     []byte
}

// smtpServer is a small in-process SMTP server: EHLO advertising STARTTLS
// (until TLS is on) and AUTH PLAIN, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA,
// RSET, NOOP, QUIT.
type smtpServer struct {
	t        *testing.T
	ln       net.Listener
	tlsConf  *tls.Config // nil: STARTTLS not offered
	user     string
	password string
	rcptCode int // when set, RCPT answers with this code

	msgs  chan smtpMessage
	mu    sync.Mutex
	conns int
	wg    sync.WaitGroup
}

func startSMTP(t *testing.T, addr string, tlsConf *tls.Config, user, password string) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{t: t, ln: ln, tlsConf: tlsConf, user: user, password: password, msgs: make(chan smtpMessage, 10)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *smtpServer) addr() string { return s.ln.Addr().String() }

func (s *smtpServer) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// next waits for the next received message, up to a deadline.
func (s *smtpServer) next(t *testing.T) smtpMessage {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message arrived at the SMTP server")
		return smtpMessage{}
	}
}

func (s *smtpServer) serve(c net.Conn) {
	tp := textproto.NewConn(c)
	reply := func(format string, args ...any) { _ = tp.PrintfLine(format, args...) }
	reply("220 test.invalid ESMTP ready")
	var (
		isTLS  bool
		authed string
		helo   string
		msg    *smtpMessage
	)
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			helo = arg
			msg = nil
			lines := []string{"test.invalid greets " + arg}
			if s.tlsConf != nil && !isTLS {
				lines = append(lines, "STARTTLS")
			}
			lines = append(lines, "AUTH PLAIN", "8BITMIME")
			for i, l := range lines {
				sep := "-"
				if i == len(lines)-1 {
					sep = " "
				}
				reply("250%s%s", sep, l)
			}
		case "STARTTLS":
			if s.tlsConf == nil || isTLS {
				reply("502 5.5.1 STARTTLS not available")
				continue
			}
			reply("220 2.0.0 go ahead")
			tc := tls.Server(c, s.tlsConf)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, isTLS, helo, authed, msg = tc, true, "", "", nil
			tp = textproto.NewConn(tc)
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			if !strings.EqualFold(mech, "PLAIN") {
				reply("504 5.5.4 unrecognized authentication type")
				continue
			}
			if resp == "" {
				reply("334 ")
				if resp, err = tp.ReadLine(); err != nil {
					return
				}
			}
			raw, err := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(raw), "\x00")
			if err != nil || len(parts) != 3 || parts[1] != s.user || parts[2] != s.password {
				reply("535 5.7.8 authentication credentials invalid")
				continue
			}
			authed = parts[1]
			reply("235 2.7.0 authentication successful")
		case "MAIL":
			if helo == "" {
				reply("503 5.5.1 EHLO first")
				continue
			}
			if s.user != "" && authed == "" {
				reply("530 5.7.0 authentication required")
				continue
			}
			from, ok := angle(arg, "FROM:")
			if !ok {
				reply("501 5.5.4 syntax: MAIL FROM:<address>")
				continue
			}
			msg = &smtpMessage{TLS: isTLS, AuthUser: authed, Helo: helo, From: from}
			reply("250 2.1.0 ok")
		case "RCPT":
			to, ok := angle(arg, "TO:")
			switch {
			case msg == nil:
				reply("503 5.5.1 MAIL first")
			case !ok:
				reply("501 5.5.4 syntax: RCPT TO:<address>")
			case s.rcptCode != 0:
				reply("%d mailbox unavailable", s.rcptCode)
			default:
				msg.Rcpt = append(msg.Rcpt, to)
				reply("250 2.1.5 ok")
			}
		case "DATA":
			if msg == nil || len(msg.Rcpt) == 0 {
				reply("503 5.5.1 RCPT first")
				continue
			}
			reply("354 end data with <CR><LF>.<CR><LF>")
			data, err := io.ReadAll(tp.DotReader())
			if err != nil {
				return
			}
			msg.Data = data
			s.msgs <- *msg
			msg = nil
			reply("250 2.0.0 queued")
		case "RSET":
			msg = nil
			reply("250 2.0.0 ok")
		case "NOOP":
			reply("250 2.0.0 ok")
		case "QUIT":
			reply("221 2.0.0 bye")
			return
		default:
			reply("502 5.5.2 command not recognized")
		}
	}
}

// angle parses `FROM:<addr> PARAMS` (after the given prefix).
func angle(arg, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", false
	}
	rest := strings.TrimSpace(arg[len(prefix):])
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", false
	}
	return rest[1:end], true
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestEmailDelivery(t *testing.T) {
	serverTLS, clientTLS := testCert(t)
	srv := startSMTP(t, "127.0.0.1:0", serverTLS, "strata", "pa55word")
	s := &Sender{
		TLSConfig: clientTLS, AllowPrivate: true,
		Getenv: env(map[string]string{"STRATA_SMTP_PASSWORD": "pa55word"}),
		Now:    fixedNow,
	}
	ch := Channel{
		ID: "ch-mail", ProjectID: "proj-1", Kind: Email,
		Email: "Ops Team <ops@example.com>", SMTPHost: srv.addr(),
		SMTPUser: "strata", SMTPPasswordEnv: "STRATA_SMTP_PASSWORD", From: "Strata <strata@example.com>",
	}
	ev := testEvent()
	ev.Summary = "Backup bk-x of demo-3node is Defunct: cluster is locked — by rs-7"
	if err := s.Send(t.Context(), ch, ev); err != nil {
		t.Fatal(err)
	}
	got := srv.next(t)
	if !got.TLS {
		t.Error("the message did not arrive over TLS")
	}
	if got.AuthUser != "strata" {
		t.Errorf("authenticated as %q, want strata", got.AuthUser)
	}
	if got.From != "strata@example.com" || len(got.Rcpt) != 1 || got.Rcpt[0] != "ops@example.com" {
		t.Errorf("envelope from %q rcpt %q", got.From, got.Rcpt)
	}

	m, err := mail.ReadMessage(bytes.NewReader(got.Data))
	if err != nil {
		t.Fatalf("reading message: %v\n%s", err, got.Data)
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil || subj != "[Strata] "+ev.Summary {
		t.Errorf("Subject = %q (%v), want %q", subj, err, "[Strata] "+ev.Summary)
	}
	if got := m.Header.Get("X-Strata-Event-Id"); got != ev.ID {
		t.Errorf("X-Strata-Event-Id = %q, want %q", got, ev.ID)
	}
	if got := m.Header.Get("Message-Id"); got != "<"+ev.ID+"@strata.invalid>" {
		t.Errorf("Message-ID = %q", got)
	}
	if d, err := m.Header.Date(); err != nil || !d.Equal(fixedNow()) {
		t.Errorf("Date = %v (%v)", d, err)
	}
	if to, err := m.Header.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != "ops@example.com" {
		t.Errorf("To = %v (%v)", to, err)
	}
	if m.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
		t.Errorf("Content-Transfer-Encoding = %q", m.Header.Get("Content-Transfer-Encoding"))
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Backup bk-x of cluster demo-3node is Defunct: ClusterLocked",
		ev.Summary, "Cluster:    demo-3node", "Backup:     bk-x", "Project:    proj-1",
		"Reason:     ClusterLocked", "Web UI:     " + ev.UIURL, "Event ID:   " + ev.ID,
		"lockedBy: rs-7", `"id": "` + ev.ID + `"`, `"clusterId": "demo-3node"`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body does not contain %q:\n%s", want, body)
		}
	}
}

func TestEmailWithoutAuthDefaultFrom(t *testing.T) {
	serverTLS, clientTLS := testCert(t)
	srv := startSMTP(t, "127.0.0.1:0", serverTLS, "", "")
	s := &Sender{TLSConfig: clientTLS, AllowPrivate: true}
	ch := Channel{ID: "c", Kind: Email, Email: "ops@example.com", SMTPHost: srv.addr()}
	if err := s.Send(t.Context(), ch, testEvent()); err != nil {
		t.Fatal(err)
	}
	got := srv.next(t)
	if !got.TLS || got.AuthUser != "" || got.From != DefaultFrom {
		t.Errorf("got TLS=%v auth=%q from=%q", got.TLS, got.AuthUser, got.From)
	}
}

func TestEmailMissingPasswordEnv(t *testing.T) {
	serverTLS, clientTLS := testCert(t)
	srv := startSMTP(t, "127.0.0.1:0", serverTLS, "strata", "pa55word")
	s := &Sender{AllowPrivate: true, TLSConfig: clientTLS, Getenv: env(nil)}
	ch := Channel{ID: "c", Kind: Email, Email: "ops@example.com", SMTPHost: srv.addr(), SMTPUser: "strata", SMTPPasswordEnv: "STRATA_SMTP_PASSWORD"}
	err := s.Send(t.Context(), ch, testEvent())
	var de *DeliveryError
	if !errors.As(err, &de) || de.Retryable || de.Kind != Email {
		t.Fatalf("err = %#v, want permanent email DeliveryError", err)
	}
	if !strings.Contains(err.Error(), "STRATA_SMTP_PASSWORD") {
		t.Errorf("error does not name the variable: %v", err)
	}
	if n := srv.connections(); n != 0 {
		t.Errorf("server saw %d connections, want none", n)
	}
}

func TestEmailWrongPasswordIsPermanent(t *testing.T) {
	serverTLS, clientTLS := testCert(t)
	srv := startSMTP(t, "127.0.0.1:0", serverTLS, "strata", "pa55word")
	s := &Sender{AllowPrivate: true, TLSConfig: clientTLS, Getenv: env(map[string]string{"STRATA_SMTP_PASSWORD_OPS": "wrong"})}
	ch := Channel{ID: "c", Kind: Email, Email: "ops@example.com", SMTPHost: srv.addr(), SMTPUser: "strata", SMTPPasswordEnv: "STRATA_SMTP_PASSWORD_OPS"}
	err := s.Send(t.Context(), ch, testEvent())
	var de *DeliveryError
	if !errors.As(err, &de) || de.Retryable || de.StatusCode != 535 {
		t.Fatalf("err = %v, want permanent 535", err)
	}
}

func TestEmailTemporaryRejectionIsRetryable(t *testing.T) {
	for _, tc := range []struct {
		code      int
		retryable bool
	}{{451, true}, {550, false}} {
		serverTLS, clientTLS := testCert(t)
		srv := startSMTP(t, "127.0.0.1:0", serverTLS, "", "")
		srv.rcptCode = tc.code
		err := (&Sender{TLSConfig: clientTLS, AllowPrivate: true}).Send(t.Context(), Channel{ID: "c", Kind: Email, Email: "ops@example.com", SMTPHost: srv.addr()}, testEvent())
		var de *DeliveryError
		if !errors.As(err, &de) || de.Retryable != tc.retryable || de.StatusCode != tc.code {
			t.Errorf("RCPT %d: err = %v, want retryable=%v", tc.code, err, tc.retryable)
		}
	}
}

func TestEmailUntrustedCertificateIsPermanent(t *testing.T) {
	serverTLS, _ := testCert(t)
	srv := startSMTP(t, "127.0.0.1:0", serverTLS, "", "")
	err := (&Sender{AllowPrivate: true}).Send(t.Context(), Channel{ID: "c", Kind: Email, Email: "ops@example.com", SMTPHost: srv.addr()}, testEvent())
	var de *DeliveryError
	if !errors.As(err, &de) || de.Retryable {
		t.Fatalf("err = %v, want permanent certificate error", err)
	}
}

func TestEmailConnectionRefusedIsRetryable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	err = (&Sender{AllowPrivate: true}).Send(t.Context(), Channel{ID: "c", Kind: Email, Email: "ops@example.com", SMTPHost: addr}, testEvent())
	if !IsRetryable(err) {
		t.Fatalf("err = %v, want retryable", err)
	}
}

// A server that offers no STARTTLS and is not localhost: the password is
// not sent in clear (net/smtp would refuse too), and the error says why.
func TestEmailNoSTARTTLSRefusesPassword(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 on this host: %v", err)
	}
	ln.Close()
	srv := startSMTP(t, "127.0.0.2:0", nil, "strata", "pa55word")
	s := &Sender{AllowPrivate: true, Getenv: env(map[string]string{"STRATA_SMTP_PASSWORD_OPS": "pa55word"})}
	err = s.Send(t.Context(), Channel{ID: "c", Kind: Email, Email: "ops@example.com", SMTPHost: srv.addr(), SMTPUser: "strata", SMTPPasswordEnv: "STRATA_SMTP_PASSWORD_OPS"}, testEvent())
	var de *DeliveryError
	if !errors.As(err, &de) || de.Retryable || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("err = %v, want permanent error about STARTTLS", err)
	}
	select {
	case m := <-srv.msgs:
		t.Fatalf("a message was delivered: %+v", m)
	default:
	}
}

// On localhost without STARTTLS, net/smtp allows PLAIN auth.
func TestEmailLocalhostWithoutTLS(t *testing.T) {
	srv := startSMTP(t, "127.0.0.1:0", nil, "strata", "pa55word")
	s := &Sender{AllowPrivate: true, Getenv: env(map[string]string{"STRATA_SMTP_PASSWORD_OPS": "pa55word"})}
	if err := s.Send(t.Context(), Channel{ID: "c", Kind: Email, Email: "ops@example.com", SMTPHost: srv.addr(), SMTPUser: "strata", SMTPPasswordEnv: "STRATA_SMTP_PASSWORD_OPS"}, testEvent()); err != nil {
		t.Fatal(err)
	}
	got := srv.next(t)
	if got.TLS || got.AuthUser != "strata" {
		t.Errorf("got TLS=%v auth=%q", got.TLS, got.AuthUser)
	}
}

// The message is safe against header injection through event fields.
func TestEmailHeaderInjection(t *testing.T) {
	ev := testEvent()
	ev.Summary = "line1\r\nBcc: victim@example.com"
	ev.ID = "ev-1\r\nX-Evil: 1"
	msg, err := (&Sender{Now: fixedNow, AllowPrivate: true}).emailMessage(&mail.Address{Address: DefaultFrom}, &mail.Address{Address: "a@b.c"}, ev)
	if err != nil {
		t.Fatal(err)
	}
	hdr, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	m, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(hdr, "\r\n\r\n"...)))).ReadMIMEHeader()
	if err != nil {
		t.Fatal(err)
	}
	if m.Get("Bcc") != "" || m.Get("X-Evil") != "" {
		t.Errorf("header injection: %q", fmt.Sprint(m))
	}
}
