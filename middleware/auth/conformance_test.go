package auth_test

import (
	"testing"
	"time"

	redisbackend "github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/middleware/auth"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/redistest"
	"github.com/redchain/redchain/router"
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
	// Every kind of commands through a real router and Redis, by a logged-in client.
	t.Run("Mix", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t)
		proxytest.Conformance(t, proxytest.Suite{
			Middleware: newAuth(t, auth.Config{Authenticator: delayed(time.Millisecond, map[string]string{"alice": "secret"})}),
			Setup:      setup,
			Terminal: func(t testing.TB) proxy.Handler {
				b, err := redisbackend.New(redisbackend.Config{Addr: srv.Addr(), Logger: testLogger(t)})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { b.Close() })
				return router.New(b)
			},
			Mix:   proxytest.AllKinds,
			Conns: 4, Commands: 100,
		})
	})
}
