package codecserver

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/stratabackup/strata/api/codec"
)

func plain(t *testing.T, v any) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCodecServer(t *testing.T) {
	k, err := codec.ParseKeys([]byte(`{"current": "k1", "keys": {"k1": "` + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)) + `"}}`))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Handler(k, Options{Origins: []string{"http://localhost:8233"}}))
	defer srv.Close()
	enc, _ := codec.New(k).Encode([]*commonpb.Payload{plain(t, map[string]string{"label": "secret"})})
	body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: enc})

	post := func(path, origin, host string, body []byte) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	resp := post("/decode", "http://localhost:8233", "", body)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:8233" {
		t.Fatalf("decode: %d, CORS %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	var out commonpb.Payloads
	buf := new(bytes.Buffer)
	_, _ = buf.ReadFrom(resp.Body)
	if err := protojson.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out.Payloads[0].Data, []byte(`"secret"`)) {
		t.Fatalf("decoded %s", out.Payloads[0].Data)
	}

	// Encode, then decode what it made.
	plainBody, _ := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{plain(t, "x")}})
	resp = post("/encode", "", "", plainBody)
	buf.Reset()
	_, _ = buf.ReadFrom(resp.Body)
	if err := protojson.Unmarshal(buf.Bytes(), &out); err != nil || string(out.Payloads[0].Metadata[converter.MetadataEncoding]) != codec.Encoding {
		t.Fatalf("encode: %d %s %v", resp.StatusCode, buf.String(), err)
	}

	// The preflight of the allowed origin passes; another origin is refused.
	req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/decode", nil)
	req.Header.Set("Origin", "http://localhost:8233")
	req.Header.Set("Access-Control-Request-Method", "POST")
	pre, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pre.Body.Close()
	if pre.StatusCode != 200 || !strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "X-Namespace") {
		t.Fatalf("preflight: %d %v", pre.StatusCode, pre.Header)
	}
	if resp := post("/decode", "https://evil.example", "", body); resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("another origin: %d, CORS %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	// A page that rebound its name to this machine is refused.
	if resp := post("/decode", "", "evil.example:8081", body); resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("rebound host: %d", resp.StatusCode)
	}
	// A body past the bound is refused, not read.
	if resp := post("/decode", "", "", bytes.Repeat([]byte(" "), MaxRequestBytes+1)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("oversized body: %d", resp.StatusCode)
	}
}
