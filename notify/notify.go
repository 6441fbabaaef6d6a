// Package notify delivers Strata's failure events to a person: to a webhook
// (JSON, optionally HMAC-signed), to a chat room through an incoming webhook
// (Slack, Mattermost, Rocket.Chat, Google Chat and Teams accept {"text": ...}),
// or by email over SMTP.
//
// A Sender delivers one event to one channel once; retrying is the caller's
// business (typically a Temporal activity's retry policy). Every failure is a
// *DeliveryError that says whether retrying can help. An event carries a
// deterministic ID (see EventID), so a retried delivery carries the same ID
// and receivers can drop duplicates.
package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
)

// Event is what is delivered (api.Event). Its JSON shape (camelCase) is
// stable. ID is unique per event and identical across retried deliveries
// of the same event, so receivers use it to drop duplicates.
type Event = api.Event

// Bounds of an event's text (package api).
const (
	MaxReasonLen  = api.MaxReasonLen
	MaxSummaryLen = api.MaxSummaryLen
)

// EventID derives a deterministic event ID (api.EventID).
func EventID(parts ...string) string { return api.EventID(parts...) }

// Kind is the kind of a Channel.
type Kind string

// Channel kinds.
const (
	Webhook Kind = "webhook"
	Chat    Kind = "chat"
	Email   Kind = "email"
)

// Channel is one destination of a project's events.
//
// Secrets: Secret (the webhook's HMAC key) is stored with the channel but is
// never marshalled to JSON. The SMTP password is not stored at all:
// SMTPPasswordEnv names an environment variable of the worker that holds it.
type Channel struct {
	ID        string `json:"id"`
	ProjectID string `json:"projectId"`
	Kind      Kind   `json:"kind"`

	// Webhook and Chat.
	URL    string `json:"url,omitempty"`
	Secret string `json:"-"`

	// Email.
	Email           string `json:"email,omitempty"`
	SMTPHost        string `json:"smtpHost,omitempty"` // host:port
	SMTPUser        string `json:"smtpUser,omitempty"`
	SMTPPasswordEnv string `json:"smtpPasswordEnv,omitempty"`
	From            string `json:"from,omitempty"`
}

// Validate checks the channel's configuration. Its messages name the
// command-line flag to fix.
func (c Channel) Validate() error {
	hasHTTP := c.URL != "" || c.Secret != ""
	hasEmail := c.Email != "" || c.SMTPHost != "" || c.SMTPUser != "" || c.SMTPPasswordEnv != "" || c.From != ""
	switch c.Kind {
	case "":
		return errors.New("a channel needs exactly one of --webhook URL, --chat URL or --email ADDR")
	case Webhook, Chat:
		flag := "--" + string(c.Kind)
		if hasEmail {
			return fmt.Errorf("give exactly one of --webhook, --chat or --email: %s does not take --email, --smtp, --smtp-user, --smtp-password-env or --from", flag)
		}
		if c.Kind == Chat && c.Secret != "" {
			return errors.New("--secret applies to --webhook only, not to --chat")
		}
		if len(c.Secret) > MaxSecretLen {
			return fmt.Errorf("--secret is %d bytes: give at most %d", len(c.Secret), MaxSecretLen)
		}
		if err := validateHTTPURL(c.URL); err != nil {
			return fmt.Errorf("%s URL %w", flag, err)
		}
		return nil
	case Email:
		if hasHTTP {
			return errors.New("give exactly one of --webhook, --chat or --email: --email does not take a URL or --secret")
		}
		if c.Email == "" {
			return errors.New("--email ADDR is required")
		}
		if _, err := mail.ParseAddress(c.Email); err != nil {
			return fmt.Errorf("--email %q is not a valid address: %v", c.Email, err)
		}
		if c.SMTPHost == "" {
			return errors.New("--email needs --smtp HOST:PORT (the mail server)")
		}
		host, port, err := net.SplitHostPort(c.SMTPHost)
		if err != nil || host == "" {
			return fmt.Errorf("--smtp %q must be HOST:PORT (e.g. smtp.example.com:587)", c.SMTPHost)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("--smtp %q: port must be a number from 1 to 65535", c.SMTPHost)
		}
		if c.SMTPUser != "" && c.SMTPPasswordEnv == "" {
			return errors.New("--smtp-user requires --smtp-password-env (the name of the worker's environment variable holding the password)")
		}
		if c.SMTPPasswordEnv != "" && c.SMTPUser == "" {
			return errors.New("--smtp-password-env requires --smtp-user")
		}
		if c.SMTPPasswordEnv != "" && !passwordEnv.MatchString(c.SMTPPasswordEnv) {
			// A channel must not be able to mail the worker's other
			// variables (AWS_SECRET_ACCESS_KEY...) to a server of its choice.
			return fmt.Errorf("--smtp-password-env %s: only %s or a variable starting with %s_ may be named (the worker's other variables are not for channels)",
				validate.Quote(c.SMTPPasswordEnv), PasswordEnvPrefix, PasswordEnvPrefix)
		}
		if len(c.Email) > 254 || len(c.From) > 254 || len(c.SMTPHost) > 255 || len(c.SMTPUser) > 256 {
			return errors.New("--email, --from, --smtp and --smtp-user are too long (at most 254, 254, 255 and 256 bytes)")
		}
		if c.From != "" {
			if _, err := mail.ParseAddress(c.From); err != nil {
				return fmt.Errorf("--from %q is not a valid address: %v", c.From, err)
			}
		}
		return nil
	default:
		return fmt.Errorf("unknown channel kind %q: use --webhook URL, --chat URL or --email ADDR", c.Kind)
	}
}

// PasswordEnvPrefix is the name, and the prefix, of the worker environment
// variables a channel's SMTP password may come from.
const PasswordEnvPrefix = "STRATA_SMTP_PASSWORD"

// MaxSecretLen bounds a webhook's signing secret.
const MaxSecretLen = 256

var passwordEnv = regexp.MustCompile(`^` + PasswordEnvPrefix + `(_[A-Z0-9_]{1,40})?$`)

func validateHTTPURL(raw string) error {
	if raw == "" {
		return errors.New("is required")
	}
	if len(raw) > api.MaxURLLen {
		return fmt.Errorf("is %d bytes: give at most %d", len(raw), api.MaxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s is not a valid URL", validate.Quote(RedactURL(raw)))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%s must be http(s)://", validate.Quote(RedactURL(raw)))
	}
	if u.Host == "" {
		return fmt.Errorf("%s has no host", validate.Quote(RedactURL(raw)))
	}
	if u.User != nil {
		return errors.New("must not carry user:password@ (use --secret to sign deliveries instead)")
	}
	if err := checkStaticDestination(u.Hostname()); err != nil {
		return err
	}
	return nil
}

// DeliveryError is the error of every failed Send. Retryable says whether
// sending the same event again may succeed: server errors (5xx, 429, SMTP
// 4xx), network errors and timeouts are retryable; rejections (other HTTP
// 4xx, SMTP 5xx) and bad configuration are not.
type DeliveryError struct {
	Channel    string // the channel's ID
	Kind       Kind
	Retryable  bool
	StatusCode int // HTTP status or SMTP reply code, 0 when there was none
	Err        error
}

func (e *DeliveryError) Error() string {
	r := "permanent"
	if e.Retryable {
		r = "retryable"
	}
	name := e.Channel
	if name == "" {
		name = "(unnamed)"
	}
	return fmt.Sprintf("notify: %s channel %s (%s): %v", e.Kind, name, r, e.Err)
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// IsRetryable reports whether err is a *DeliveryError worth retrying.
func IsRetryable(err error) bool {
	var de *DeliveryError
	return errors.As(err, &de) && de.Retryable
}

// Sender delivers events. The zero value is usable.
type Sender struct {
	// HTTPClient sends webhook and chat requests; nil means a client with a
	// 30 s timeout.
	HTTPClient *http.Client
	// Getenv reads the SMTP password variable; nil means os.Getenv.
	Getenv func(string) string
	// AllowPrivate lets deliveries reach loopback, private and link-local
	// addresses (the worker's --notify-allow-private, on in --dev). Cloud
	// metadata addresses are refused regardless.
	AllowPrivate bool
	// TLSConfig is used for SMTP STARTTLS (and implicit TLS on port 465);
	// ServerName defaults to the SMTP host. nil means the system roots.
	TLSConfig *tls.Config
	// Now stamps webhook timestamps, email dates and events without a time;
	// nil means time.Now.
	Now func() time.Time

	clientOnce sync.Once
	client     *http.Client
}

func (s *Sender) httpClient() *http.Client {
	if s.HTTPClient != nil {
		return s.HTTPClient
	}
	s.clientOnce.Do(func() { s.client = s.defaultClient() })
	return s.client
}

func (s *Sender) getenv(k string) string {
	if s.Getenv != nil {
		return s.Getenv(k)
	}
	return os.Getenv(k)
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Send delivers ev to ch once. It returns nil when the receiver accepted the
// event and a *DeliveryError otherwise.
func (s *Sender) Send(ctx context.Context, ch Channel, ev Event) error {
	if err := ch.Validate(); err != nil {
		return permanent(ch, 0, err)
	}
	if ev.ID == "" || ev.Type == "" {
		return permanent(ch, 0, errors.New("event needs an ID and a type"))
	}
	if ev.Time.IsZero() {
		ev.Time = s.now().UTC()
	}
	switch ch.Kind {
	case Webhook:
		return s.sendWebhook(ctx, ch, ev)
	case Chat:
		return s.sendChat(ctx, ch, ev)
	default:
		return s.sendEmail(ctx, ch, ev)
	}
}

func permanent(ch Channel, code int, err error) *DeliveryError {
	return &DeliveryError{Channel: ch.ID, Kind: ch.Kind, StatusCode: code, Err: err}
}

func retryable(ch Channel, code int, err error) *DeliveryError {
	return &DeliveryError{Channel: ch.ID, Kind: ch.Kind, Retryable: true, StatusCode: code, Err: err}
}
