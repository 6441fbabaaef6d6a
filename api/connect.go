package api

import (
	"net"
	"strings"

	"go.temporal.io/sdk/client"
)

// PreferUncompressedOnLoopback turns the SDK's gzip compression of gRPC
// messages off when Temporal is on this machine: there is no bandwidth to
// save, and compressing a page of a thousand backups costs more than
// sending it. Elsewhere the SDK's default (gzip) stays.
func PreferUncompressedOnLoopback(o *client.Options) {
	host := o.HostPort
	if host == "" {
		host = client.DefaultHostPort
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	if (ip != nil && ip.IsLoopback()) || host == "localhost" {
		if o.ConnectionOptions.GrpcCompression == nil {
			o.ConnectionOptions.GrpcCompression = &client.GrpcCompressionNone{}
		}
	}
}
