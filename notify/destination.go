package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/stratabackup/strata/api/validate"
)

// Where deliveries may go. A channel's URL or SMTP host is chosen by whoever
// can add channels, so without a check a webhook could be aimed at the
// worker's cloud metadata service (and the worker's credentials), at its
// loopback services or at the private network behind it. The check runs at
// delivery, on every address the connection actually dials (after DNS), so
// a name that resolves elsewhere later (DNS rebinding) is caught too.

// metadataAddrs are cloud instance-metadata endpoints: never a destination,
// whatever the worker allows.
var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("169.254.169.254"): true, // AWS, GCP, Azure, OpenStack
	netip.MustParseAddr("169.254.170.2"):   true, // AWS ECS task metadata
	netip.MustParseAddr("169.254.169.253"): true, // AWS DNS resolver
	netip.MustParseAddr("169.254.169.123"): true, // AWS time sync
	netip.MustParseAddr("fd00:ec2::254"):   true, // AWS IMDS over IPv6
	netip.MustParseAddr("fd00:ec2::253"):   true,
	netip.MustParseAddr("100.100.100.200"): true, // Alibaba Cloud
}

var (
	sharedAddrSpace = netip.MustParsePrefix("100.64.0.0/10")
	thisNetwork     = netip.MustParsePrefix("0.0.0.0/8")
)

// DestinationError refuses a delivery's destination address.
type DestinationError struct {
	Addr   string
	Reason string
}

func (e *DestinationError) Error() string {
	return fmt.Sprintf("destination %s is %s", e.Addr, e.Reason)
}

// refusal says why a delivery may not connect to ip ("" if it may).
func refusal(ip netip.Addr, allowPrivate bool) string {
	ip = ip.Unmap()
	if metadataAddrs[ip] {
		return "a cloud metadata address: never a notification destination"
	}
	if allowPrivate {
		return ""
	}
	private := "a %s address: deliveries go to public addresses unless the worker runs with --notify-allow-private"
	switch {
	case ip.IsLoopback():
		return fmt.Sprintf(private, "loopback")
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return fmt.Sprintf(private, "link-local")
	case ip.IsPrivate(), sharedAddrSpace.Contains(ip):
		return fmt.Sprintf(private, "private")
	case ip.IsUnspecified(), thisNetwork.Contains(ip):
		return fmt.Sprintf(private, "unspecified")
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return fmt.Sprintf(private, "multicast")
	}
	return ""
}

// dialer connects only to addresses the policy allows.
func (s *Sender) dialer() *net.Dialer {
	return &net.Dialer{
		Timeout: 15 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return &DestinationError{Addr: address, Reason: "not an IP address"}
			}
			if why := refusal(ap.Addr(), s.AllowPrivate); why != "" {
				return &DestinationError{Addr: ap.Addr().String(), Reason: why}
			}
			return nil
		},
	}
}

// defaultClient is the HTTP client of a Sender without one: connections
// only where the policy allows, no proxy (a proxy would dial on Strata's
// behalf, past the check), and no redirects (a receiver could bounce the
// signed body anywhere).
func (s *Sender) defaultClient() *http.Client {
	d := s.dialer()
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:           d.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          16,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 20 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func isDestinationError(err error) bool {
	var de *DestinationError
	return errors.As(err, &de)
}

// dialSMTP connects to an SMTP server under the same policy.
func (s *Sender) dialSMTP(ctx context.Context, hostPort string) (net.Conn, error) {
	return s.dialer().DialContext(ctx, "tcp", hostPort)
}

// sanitize keeps a peer's text (an SMTP reply) short and printable before
// it reaches workflow history or logs.
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, strings.ToValidUTF8(s, ""))
	return validate.Truncate(strings.Join(strings.Fields(s), " "), 160)
}

// checkStaticDestination refuses, when a channel is added, a URL whose host
// is a literal address no worker may deliver to (a metadata address). Names
// and other addresses are checked at delivery, against the worker's policy.
func checkStaticDestination(host string) error {
	h := strings.Trim(host, "[]")
	if ip, err := netip.ParseAddr(h); err == nil && metadataAddrs[ip.Unmap()] {
		return &DestinationError{Addr: ip.String(), Reason: "a cloud metadata address: never a notification destination"}
	}
	return nil
}
