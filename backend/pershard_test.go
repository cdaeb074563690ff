package backend_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/proxy/resp"
)

// fakeConn is a server connection that records what it is sent and answers at once:
// QUEUED inside a transaction, the queued count at EXEC, OK otherwise.
type fakeConn struct {
	server string
	log    *[]string
	mu     *sync.Mutex
	multi  bool
	queued int
}

func (f *fakeConn) Send(cmd resp.Command, _ time.Duration, done func(resp.Value, error)) {
	f.mu.Lock()
	var parts []string
	for _, a := range cmd.Args {
		parts = append(parts, string(a))
	}
	line := strings.ToUpper(strings.Join(parts, " "))
	*f.log = append(*f.log, f.server+": "+line)
	f.mu.Unlock()
	name := strings.ToUpper(string(cmd.Args[0]))
	switch {
	case name == "DBSIZE":
		done(resp.Integer(1), nil)
	case name == "MULTI":
		f.multi, f.queued = true, 0
		done(resp.OK, nil)
	case name == "EXEC":
		f.multi = false
		done(resp.Integer(int64(f.queued)), nil)
	case name == "DISCARD":
		f.multi = false
		done(resp.OK, nil)
	case f.multi && name == "ECHO" && len(cmd.Args) == 1:
		done(resp.Error("ERR", "wrong number of arguments for 'echo' command"), nil)
	case f.multi:
		f.queued++
		done(resp.SimpleString("QUEUED"), nil)
	default:
		done(resp.OK, nil)
	}
}
func (f *fakeConn) Subscriptions() int { return 0 }
func (f *fakeConn) Release()           {}
func (f *fakeConn) Close()             {}

// perShard returns a PerShard over servers "a" (keys starting with a) and "b" (the
// others), "a" the default, and the log of what each server was sent.
func perShard() (backend.Dedicated, func() []string) {
	var mu sync.Mutex
	var log []string
	route := func(k []byte) string {
		if k[0] == 'a' {
			return "a"
		}
		return "b"
	}
	d := backend.NewPerShard(backend.PerShardConfig{
		Route: func(args [][]byte) (any, bool) {
			switch strings.ToUpper(string(args[0])) {
			case "GET", "SET", "WATCH":
				s := route(args[1])
				if len(args) > 3 && strings.ToUpper(string(args[0])) == "WATCH" && route(args[2]) != s {
					return nil, false
				}
				return s, true
			case "MSET":
				if route(args[1]) != route(args[3]) {
					return nil, false
				}
				return route(args[1]), true
			}
			return nil, true
		},
		Default: func() any { return "a" },
		All:     func() []any { return []any{"a", "b"} },
		Open: func(s any, _ func(resp.Value)) backend.Dedicated {
			return &fakeConn{server: s.(string), log: &log, mu: &mu}
		},
		Push:       func(resp.Value) {},
		CrossShard: resp.Error("CROSSSLOT", "x"),
		Select:     resp.Error("ERR", "no select"),
	})
	return d, func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := log
		log = nil
		return out
	}
}

func send(d backend.Dedicated, cmds ...string) []string {
	var out []string
	for _, c := range cmds {
		cmd := resp.NewCommand(strings.Fields(c)...)
		d.Send(cmd, 0, func(v resp.Value, err error) {
			if err != nil {
				out = append(out, err.Error())
				return
			}
			out = append(out, strings.TrimSpace(string(v.AppendTo(nil))))
		})
	}
	return out
}

func TestPerShard(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cmds    []string
		replies string
		sent    string
	}{
		{"each command to its server", []string{"GET a1", "GET b1", "PING"},
			"[+OK +OK +OK]", "[a: GET A1 b: GET B1 a: PING]"},
		{"tracking on every connection, opened later too", []string{"GET b1", "CLIENT TRACKING on", "GET a1"},
			"[+OK +OK +OK]", "[b: GET B1 b: CLIENT TRACKING ON a: CLIENT TRACKING ON a: GET A1]"},
		{"caching is answered at once and goes with the next command", []string{"CLIENT TRACKING on optin", "CLIENT CACHING yes", "GET b1"},
			"[+OK +OK +OK]", "[a: CLIENT TRACKING ON OPTIN b: CLIENT TRACKING ON OPTIN b: CLIENT CACHING YES b: GET B1]"},
		{"caching before MULTI goes with the transaction", []string{"CLIENT TRACKING on optout", "CLIENT CACHING no", "MULTI", "GET b1", "EXEC"},
			"[+OK +OK +OK +QUEUED :1]", "[a: CLIENT TRACKING ON OPTOUT b: CLIENT TRACKING ON OPTOUT b: CLIENT CACHING NO b: MULTI b: GET B1 b: EXEC]"},
		{"caching without OPTIN or OPTOUT goes to the server, which refuses it", []string{"CLIENT TRACKING on", "CLIENT CACHING yes"},
			"[+OK +OK]", "[a: CLIENT TRACKING ON a: CLIENT CACHING YES]"},
		{"a transaction binds to its first key's server, where its keyless commands move", []string{"MULTI", "PING", "SET b1 1", "GET b2", "EXEC"},
			"[+OK +QUEUED +QUEUED +QUEUED :3]", "[a: MULTI a: PING a: DISCARD b: MULTI b: PING b: SET B1 1 b: GET B2 b: EXEC]"},
		{"a transaction whose first key is the default server's stays", []string{"MULTI", "PING", "SET a1 1", "EXEC"},
			"[+OK +QUEUED +QUEUED :2]", "[a: MULTI a: PING a: SET A1 1 a: EXEC]"},
		{"another server in a transaction aborts it", []string{"MULTI", "SET b1 1", "GET a1", "EXEC"},
			"[+OK +QUEUED -CROSSSLOT x -EXECABORT Transaction discarded because of previous errors.]", "[b: MULTI b: SET B1 1 b: DISCARD]"},
		{"a cross-shard command in a transaction aborts it", []string{"MULTI", "MSET a1 1 b1 1", "EXEC"},
			"[+OK -CROSSSLOT x -EXECABORT Transaction discarded because of previous errors.]", "[]"},
		{"a keyless transaction goes to the default server", []string{"MULTI", "PING", "EXEC"},
			"[+OK +QUEUED :1]", "[a: MULTI a: PING a: EXEC]"},
		{"a keyless command refused at queue time fails the transaction that moves", []string{"MULTI", "ECHO", "SET b1 1", "EXEC"},
			"[+OK -ERR wrong number of arguments for 'echo' command +QUEUED -EXECABORT Transaction discarded because of previous errors.]",
			"[a: MULTI a: ECHO a: DISCARD b: MULTI b: ECHO b: SET B1 1 b: DISCARD]"},
		{"DISCARD of a keyless transaction", []string{"MULTI", "PING", "DISCARD"},
			"[+OK +QUEUED +OK]", "[a: MULTI a: PING a: DISCARD]"},
		{"DISCARD of an empty transaction", []string{"MULTI", "DISCARD"},
			"[+OK +OK]", "[]"},
		{"WATCH binds the transaction", []string{"WATCH b1", "MULTI", "SET a1 1", "EXEC"},
			"[+OK +OK -CROSSSLOT x -EXECABORT Transaction discarded because of previous errors.]", "[b: WATCH B1 b: UNWATCH]"},
		{"WATCH then a keyless transaction runs where the WATCH is", []string{"WATCH b1", "MULTI", "PING", "EXEC"},
			"[+OK +OK +QUEUED :1]", "[b: WATCH B1 b: MULTI b: PING b: EXEC]"},
		{"nested MULTI is refused, the transaction goes on", []string{"MULTI", "MULTI", "GET a1", "EXEC"},
			"[+OK -ERR MULTI calls can not be nested +QUEUED :1]", "[a: MULTI a: GET A1 a: EXEC]"},
		{"SELECT", []string{"SELECT 0", "SELECT 1"}, "[+OK -ERR no select]", "[a: SELECT 0]"},
		{"a whole-keyspace command on every server", []string{"WATCH b1", "FLUSHALL", "DBSIZE"},
			"[+OK +OK :2]", "[b: WATCH B1 a: FLUSHALL b: FLUSHALL a: DBSIZE b: DBSIZE]"},
		{"a channel subscription on the default server", []string{"SUBSCRIBE news", "PSUBSCRIBE n*", "UNSUBSCRIBE"},
			"[+OK +OK +OK]", "[a: SUBSCRIBE NEWS a: PSUBSCRIBE N* a: UNSUBSCRIBE]"},
		{"keyspace notifications from every server", []string{"PSUBSCRIBE *", "SUBSCRIBE __keyevent@0__:set", "PUNSUBSCRIBE"},
			"[+OK +OK +OK]", "[b: PSUBSCRIBE * a: PSUBSCRIBE * b: SUBSCRIBE __KEYEVENT@0__:SET a: SUBSCRIBE __KEYEVENT@0__:SET b: PUNSUBSCRIBE a: PUNSUBSCRIBE]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, sent := perShard()
			got := send(d, tc.cmds...)
			if fmt.Sprint(got) != tc.replies {
				t.Errorf("replies %v, want %s", got, tc.replies)
			}
			if s := fmt.Sprint(sent()); s != tc.sent {
				t.Errorf("sent %s, want %s", s, tc.sent)
			}
		})
	}
}

// TestPerShardQueuedAtOnce: a command of a transaction whose server is not known yet is
// answered QUEUED at once: a client that waits for it before sending EXEC goes on.
func TestPerShardQueuedAtOnce(t *testing.T) {
	d, sent := perShard()
	if got := fmt.Sprint(send(d, "WATCH b1", "MULTI", "PING")); got != "[+OK +OK +QUEUED]" {
		t.Fatalf("replies %s before EXEC", got)
	}
	if got := fmt.Sprint(send(d, "EXEC")); got != "[:1]" {
		t.Errorf("EXEC = %s", got)
	}
	if got := fmt.Sprint(sent()); got != "[b: WATCH B1 b: MULTI b: PING b: EXEC]" {
		t.Errorf("sent %s", got)
	}
}
