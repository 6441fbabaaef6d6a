package devserver

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"

	"github.com/stratabackup/strata/internal/hostguard"
)

// uiServer is the Temporal Web UI server (github.com/temporalio/ui-server),
// whose Start blocks until Stop, behind a guard that answers only requests
// addressed to a loopback host name. Without it, any web page the
// developer visits could rebind its own name to 127.0.0.1 (DNS rebinding)
// and drive the local Temporal through the UI's API.
type uiServer struct {
	srv   *uiserver.Server
	guard *http.Server
	done  chan struct{}
	// public is the listener the guard serves (the UI port); the UI
	// server itself listens on internal, a loopback port of its own.
	public   net.Listener
	internal int
}

func newUIServer(r resolved, public net.Listener, internalPort int) *uiServer {
	cfg := &uiconfig.Config{
		Host:                defaultIP,
		Port:                internalPort,
		TemporalGRPCAddress: net.JoinHostPort(r.dialIP, strconv.Itoa(r.FrontendPort)),
		EnableUI:            true,
		DefaultNamespace:    r.Namespace,
		// Plain HTTP on a local port.
		CORS: uiconfig.CORS{CookieInsecure: true},
		// No request logs or banner on stdout; the worker prints its own.
		HideLogs: true,
		// Offline-friendly: no news/version fetches from the internet.
		DisableNewsFetch: true,
		// Payloads are decoded in the browser, by the worker's codec server.
		Codec: uiconfig.Codec{Endpoint: r.CodecEndpoint},
	}
	target := &url.URL{Scheme: "http", Host: net.JoinHostPort(defaultIP, strconv.Itoa(internalPort))}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host
	}}
	return &uiServer{
		srv:      uiserver.NewServer(uiserveroptions.WithConfigProvider(cfg)),
		guard:    &http.Server{Handler: hostGuard(r.IP, proxy), ReadHeaderTimeout: 10 * time.Second},
		done:     make(chan struct{}),
		public:   public,
		internal: internalPort,
	}
}

// hostGuard serves only requests whose Host is a loopback name (localhost,
// *.localhost, 127.0.0.0/8, ::1) or the IP the UI was told to listen on.
func hostGuard(listenIP string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostguard.Allowed(r.Host, listenIP) {
			http.Error(w, "this Web UI answers only requests to a loopback host name (localhost, 127.0.0.1, [::1])", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// start runs the UI server and its guard in the background. ui-server
// exits the process if it cannot bind its port, which is why the internal
// port was checked free just before.
func (u *uiServer) start() {
	go func() {
		_ = u.srv.Start() // returns nil once stopped
	}()
	go func() {
		defer close(u.done)
		if err := u.guard.Serve(u.public); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return
		}
	}()
}

// stop closes the guard and the UI server and waits (boundedly) for them.
func (u *uiServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = u.guard.Shutdown(ctx)
	u.srv.Stop()
	select {
	case <-u.done:
	case <-ctx.Done():
	}
}
