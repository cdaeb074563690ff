package auth_test

import (
	"testing"
	"time"

	"github.com/redchain/redchain/middleware/auth"
	"github.com/redchain/redchain/proxy/proxytest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	setup := [][]string{{"AUTH", "alice", "secret"}}
	for _, tc := range []struct {
		name string
		cfg  auth.Config
	}{
		{"Static", auth.Config{Users: []auth.User{{Name: "alice", Password: "secret"}}}},
		{"Authenticator", auth.Config{Authenticator: delayed(time.Millisecond, map[string]string{"alice": "secret"})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			proxytest.Conformance(t, proxytest.Suite{Middleware: newAuth(t, tc.cfg), Setup: setup})
		})
	}
}
