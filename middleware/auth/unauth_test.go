package auth_test

import (
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redchain/redchain/middleware/auth"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/redistest"
)

// unauthCase is input a client sends, and what it must read back: the replies, and
// whether the connection then closes.
type unauthCase struct {
	name   string
	input  string
	want   []string
	closes bool
}

func bulkCmd(args ...string) string { return string(resp.NewCommand(args...).AppendTo(nil)) }

var (
	big      = strings.Repeat("x", 20000) // over the 16 KiB of an unauthenticated bulk
	elevenKs = []string{"MSET", "k1", "1", "k2", "2", "k3", "3", "k4", "4", "k5", "5"}
)

// unauthCases are what Redis with requirepass answers, as a client without a password
// sees it. Each is checked against a real redis-server and against the proxy.
func unauthCases(pass string) []unauthCase {
	auth := bulkCmd("AUTH", pass)
	return []unauthCase{
		{"huge bulk announced", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$300000000\r\nxxxx",
			[]string{"-ERR Protocol error: unauthenticated bulk length"}, true},
		{"bulk over 16KiB", bulkCmd("SET", "k", big),
			[]string{"-ERR Protocol error: unauthenticated bulk length"}, true},
		{"eleven arguments", bulkCmd(elevenKs...),
			[]string{"-ERR Protocol error: unauthenticated multibulk length"}, true},
		{"small command", bulkCmd("GET", "k"),
			[]string{"-NOAUTH Authentication required."}, false},
		{"AUTH then big values in one write", auth + bulkCmd("SET", "k", big) + bulkCmd(elevenKs...) + bulkCmd("STRLEN", "k"),
			[]string{"+OK", "+OK", "+OK", ":20000"}, false},
		{"RESET logs out", auth + bulkCmd("RESET") + bulkCmd("SET", "k", big),
			[]string{"+OK", "+RESET", "-ERR Protocol error: unauthenticated bulk length"}, true},
	}
}

// runUnauth sends tc.input to addr and checks the replies and the close (a reset counts:
// Redis closes with the rest of a refused payload unread).
func runUnauth(t *testing.T, addr string, tc unauthCase) {
	t.Helper()
	c := proxytest.Dial(t, addr)
	c.WriteRaw([]byte(tc.input))
	for i, want := range tc.want {
		v, err := c.ReadErr()
		if err != nil {
			t.Fatalf("%s: reply %d: %v, want %s", tc.name, i, err, want)
		}
		if got := strings.TrimSuffix(string(v.AppendTo(nil)), "\r\n"); got != want {
			t.Fatalf("%s: reply %d = %q, want %q", tc.name, i, got, want)
		}
	}
	if tc.closes {
		if v, err := c.ReadErr(); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("%s: after the error read %v (%v), want the connection closed", tc.name, v, err)
		}
	} else if v := c.Do("PING"); v.IsError() && !strings.HasPrefix(string(v.Str), "NOAUTH") {
		t.Fatalf("%s: connection unusable after: %v", tc.name, v)
	}
}

// TestUnauthenticatedLimits checks that a client that has not authenticated is limited
// as Redis limits it: an over-limit command is refused from its header, with Redis's
// error, and the connection closes, so that the proxy buffers nothing of it; after
// AUTH, in the same write, big commands are served. The same cases run against a real
// redis-server with requirepass, which must answer the same.
func TestUnauthenticatedLimits(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Args("--requirepass", "pw"))
	for _, tc := range unauthCases("pw") {
		runUnauth(t, srv.Addr(), tc)
	}
	st := newStack(t, newAuth(t, auth.Config{Users: []auth.User{{Name: "default", Password: "pw"}}}))
	for _, tc := range unauthCases("pw") {
		runUnauth(t, st.proxy.Addr(), tc)
	}
	// An asynchronous authenticator: the big commands wait for its answer, then run.
	st = newStack(t, newAuth(t, auth.Config{Authenticator: delayed(20*time.Millisecond, map[string]string{"default": "pw"})}))
	for _, tc := range unauthCases("pw") {
		runUnauth(t, st.proxy.Addr(), tc)
	}
}
