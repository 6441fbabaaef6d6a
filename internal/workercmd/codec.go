package workercmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/stratabackup/strata/internal/codecserver"
)

// listenCodec binds the codec server's address (before the Web UI starts,
// which is told its URL).
func listenCodec(o options) (net.Listener, error) {
	ln, err := net.Listen("tcp", o.codecListen)
	if err != nil {
		return nil, fmt.Errorf("codec server: %w", err)
	}
	return ln, nil
}

// codecURL is the codec server's URL on ln.
func codecURL(ln net.Listener) string { return "http://" + ln.Addr().String() }

// startCodecServer serves the codec server at o.codecListen for the web
// origins given (the Web UI's), until ctx ends. It returns its URL.
func startCodecServer(ctx context.Context, o options, origins []string, logger *zap.Logger) (string, error) {
	ln, err := listenCodec(o)
	if err != nil {
		return "", err
	}
	return serveCodec(ctx, ln, o, origins, logger), nil
}

// serveCodec serves the codec server on ln until ctx ends.
func serveCodec(ctx context.Context, ln net.Listener, o options, origins []string, logger *zap.Logger) string {
	host, _, _ := net.SplitHostPort(ln.Addr().String())
	var hosts []string
	if ip := net.ParseIP(host); ip != nil && !ip.IsLoopback() {
		// It decrypts for whoever reaches it: say so when that is more
		// than this machine.
		logger.Warn("the codec server listens beyond loopback: it decrypts payloads for anyone who reaches it; put it behind your own authentication",
			zap.String("address", ln.Addr().String()))
		if !ip.IsUnspecified() {
			hosts = append(hosts, host)
		}
	}
	srv := &http.Server{
		Handler:           codecserver.Handler(o.keys, codecserver.Options{Origins: origins, Hosts: hosts}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("codec server stopped", zap.Error(err))
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	url := codecURL(ln)
	logger.Info("codec server listening", zap.String("url", url), zap.Strings("origins", origins))
	return url
}

// uiOrigins are the origins a browser may show a UI at base from: as
// given, and with localhost and 127.0.0.1 swapped.
func uiOrigins(base string) []string {
	if base == "" {
		return nil
	}
	base = strings.TrimSuffix(base, "/")
	out := []string{base}
	switch {
	case strings.Contains(base, "://127.0.0.1:"):
		out = append(out, strings.Replace(base, "://127.0.0.1:", "://localhost:", 1))
	case strings.Contains(base, "://localhost:"):
		out = append(out, strings.Replace(base, "://localhost:", "://127.0.0.1:", 1))
	}
	return out
}
