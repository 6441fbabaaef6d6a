package hostguard

import "testing"

func TestAllowed(t *testing.T) {
	for _, c := range []struct {
		host string
		also []string
		want bool
	}{
		{"localhost:8081", nil, true},
		{"LOCALHOST.", nil, true},
		{"ui.localhost:8233", nil, true},
		{"127.0.0.1:8081", nil, true},
		{"127.1.2.3", nil, true},
		{"[::1]:8081", nil, true},
		{"evil.example:8081", nil, false},
		{"localhost.evil.example", nil, false},
		{"10.0.0.5:8233", nil, false},
		{"10.0.0.5:8233", []string{"10.0.0.5"}, true},
		{"[fe80::1]:8233", []string{"FE80:0::1"}, true},
		{"10.0.0.5:8233", []string{"0.0.0.0"}, false},
		{"codec.internal:8081", []string{"Codec.Internal"}, true},
		{"codec.internal:8081", []string{""}, false},
		{"", nil, false},
	} {
		if got := Allowed(c.host, c.also...); got != c.want {
			t.Errorf("Allowed(%q, %q) = %v, want %v", c.host, c.also, got, c.want)
		}
	}
}
