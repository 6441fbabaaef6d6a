package devserver

import (
	"net"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
)

// uiServer wraps the Temporal Web UI server (github.com/temporalio/ui-server),
// whose Start blocks until Stop.
type uiServer struct {
	srv  *uiserver.Server
	done chan struct{}
}

func newUIServer(r resolved) *uiServer {
	cfg := &uiconfig.Config{
		Host:                r.IP,
		Port:                r.UIPort,
		TemporalGRPCAddress: net.JoinHostPort(r.dialIP, strconv.Itoa(r.FrontendPort)),
		EnableUI:            true,
		DefaultNamespace:    r.Namespace,
		// Plain HTTP on a local port.
		CORS: uiconfig.CORS{CookieInsecure: true},
		// No request logs or banner on stdout; the worker prints its own.
		HideLogs: true,
		// Offline-friendly: no news/version fetches from the internet.
		DisableNewsFetch: true,
	}
	return &uiServer{
		srv:  uiserver.NewServer(uiserveroptions.WithConfigProvider(cfg)),
		done: make(chan struct{}),
	}
}

// start runs the UI server in the background. ui-server exits the process
// if it cannot bind its port, which is why Start checks the port first.
func (u *uiServer) start() {
	go func() {
		defer close(u.done)
		_ = u.srv.Start() // returns nil once stopped
	}()
}

// stop closes the UI server and waits (boundedly) for its goroutine to return.
func (u *uiServer) stop() {
	u.srv.Stop()
	select {
	case <-u.done:
	case <-time.After(5 * time.Second):
	}
}
