// Package hostguard checks the Host a request was addressed to, so that a
// server bound to loopback is not reached through a web page that rebinds
// its own name to this machine (DNS rebinding).
package hostguard

import (
	"net"
	"strings"
)

// Allowed reports whether hostport (a request's Host) names this machine's
// loopback (localhost, *.localhost, 127.0.0.0/8, ::1) or one of also (host
// names or IPs the server was told to answer; unspecified IPs such as
// 0.0.0.0 match nothing).
func Allowed(hostport string, also ...string) bool {
	host := normalize(hostport)
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	if ip != nil && ip.IsLoopback() {
		return true
	}
	for _, a := range also {
		a = normalize(a)
		if other := net.ParseIP(a); other != nil {
			if ip != nil && !other.IsUnspecified() && other.Equal(ip) {
				return true
			}
			continue
		}
		if a != "" && a == host {
			return true
		}
	}
	return false
}

func normalize(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
}
