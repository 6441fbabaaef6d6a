// Package codecserver serves the payload codec over HTTP for the Web UI and
// `temporal --codec-endpoint`. It lives with the worker, not in api/codec:
// callers encrypt with the codec itself and never need the server.
package codecserver

import (
	"net/http"
	"strings"

	"go.temporal.io/sdk/converter"

	"github.com/stratabackup/strata/api/codec"
	"github.com/stratabackup/strata/internal/hostguard"
)

// Options say whom the codec server answers.
type Options struct {
	// Origins are the web origins (scheme://host:port) whose pages may
	// call it: the Web UI's. Others get no CORS headers, and 403.
	Origins []string
	// Hosts are the host names requests may be addressed to besides the
	// loopback ones (localhost, 127.0.0.0/8, ::1): a page that rebinds its
	// own name to this machine reaches no key.
	Hosts []string
}

// MaxRequestBytes bounds one request to the codec server.
const MaxRequestBytes = 16 << 20

// Handler is the codec server: POST …/encode and …/decode of
// {"payloads": [...]} (the protocol of the Web UI's codec endpoint and
// `temporal --codec-endpoint`), with CORS for the allowed origins. It
// decrypts for whoever reaches it: keep it on loopback, or behind your
// own authentication.
func Handler(keys *codec.Keys, o Options) http.Handler {
	next := converter.NewPayloadCodecHTTPHandler(codec.New(keys))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostguard.Allowed(r.Host, o.Hosts...) {
			http.Error(w, "this codec server answers only requests to a loopback host name or one it was given", http.StatusMisdirectedRequest)
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			if !contains(o.Origins, origin) {
				http.Error(w, "origin not allowed", http.StatusForbidden)
				return
			}
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
			h.Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusOK)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBytes)
		next.ServeHTTP(w, r)
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(strings.TrimSuffix(v, "/"), s) {
			return true
		}
	}
	return false
}
