package router_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/backend/cluster"
	redisbackend "github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/backend/shard"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/redistest"
	"github.com/redchain/redchain/router"
)

// addrPattern matches what would tell a client where a server is: an IPv4 or IPv6
// address, localhost, or a host:port.
var addrPattern = regexp.MustCompile(`(?i)\b(\d{1,3}\.){3}\d{1,3}\b|\[[0-9a-f:]*\]|localhost|[a-z0-9.-]*:\d{2,5}\b`)

// Timeouts short enough that a slow server shows within the test, long enough for a
// loaded machine to dial a live one.
const (
	errsCommandTimeout = 300 * time.Millisecond
	errsDialTimeout    = 500 * time.Millisecond
)

// TestErrorsNameNoServer sends a mix of commands through a proxy whose backend is down,
// slow or refusing, for backend/redis, backend/shard and backend/cluster, and checks
// every error reply: none names a server, and the fixed text of the condition is among
// them (ERRORS.md).
func TestErrorsNameNoServer(t *testing.T) {
	t.Parallel()
	down := deadAddr(t)
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		// A server that refuses the backend's login: a wrong password.
		locked := redistest.Start(t, redistest.Args("--requirepass", "secret"))
		// A server killed once the backend is connected to it.
		killed := redistest.Start(t)
		for _, c := range []struct {
			name, addr, want string
			cfg              func(*redisbackend.Config)
			kill             *redistest.Server
		}{
			{"down", down, "ERR backend unavailable", nil, nil},
			{"killed", killed.Addr(), "", nil, killed},
			{"slow", blackhole(t), "ERR backend timeout", nil, nil},
			{"refusing login", locked.Addr(), "ERR backend unavailable", func(c *redisbackend.Config) { c.Password = "wrong" }, nil},
			{"refusing connections", fullServer(t).Addr(), "", nil, nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				logs := &syncBuffer{}
				rc := errsRedisConfig(c.addr, logs)
				if c.cfg != nil {
					c.cfg(&rc)
				}
				b, err := redisbackend.New(rc)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = b.Close() })
				if c.kill != nil {
					c.kill.Kill()
				}
				checkErrors(t, b, "k", c.want)
				// The detail is for the log: it names the server.
				if !strings.Contains(logs.String(), c.addr) {
					t.Errorf("the backend's log does not name %s:\n%s", c.addr, logs)
				}
			})
		}
	})
	t.Run("shard", func(t *testing.T) {
		t.Parallel()
		good := redistest.Start(t)
		for _, c := range []struct{ name, bad, want string }{
			{"down", down, "ERR backend unavailable"},
			{"slow", blackhole(t), "ERR backend timeout"},
			{"refusing connections", fullServer(t).Addr(), ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				b, err := shard.New(shard.Config{
					Servers: []shard.Server{{Addr: good.Addr()}, {Addr: c.bad}},
					Redis:   errsRedisConfig("", nil),
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = b.Close() })
				key := ""
				for i := 0; key == ""; i++ {
					if k := fmt.Sprint("k", i); b.ServerFor([]byte(k)) == c.bad {
						key = k
					}
				}
				checkErrors(t, b, key, c.want)
			})
		}
	})
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		// Node 0 announces a server that never answers: a slow node.
		slow := blackhole(t)
		_, port, _ := net.SplitHostPort(slow)
		var slowPort int
		fmt.Sscan(port, &slowPort)
		c := redistest.StartCluster(t, redistest.AnnouncePort(0, slowPort))
		// The primaries of three slots: node 0 (slow), and two others.
		p0, p1, p2 := c.PrimaryOf(100), c.PrimaryOf(6000), c.PrimaryOf(12000)
		if p0 != c.Nodes()[0] || p1 == p0 || p2 == p0 || p2 == p1 {
			t.Fatalf("unexpected slot map: %s, %s, %s", p0, p1, p2)
		}
		key := func(slot int) string { return "{" + redistest.KeyInSlot(slot) + "}" }
		newCluster := func(cfg cluster.Config) backend.Backend {
			cfg.Redis = errsRedisConfig("", nil)
			cfg.RefreshTimeout = errsDialTimeout
			b, err := cluster.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Close() })
			return b
		}
		t.Run("no slot map", func(t *testing.T) {
			checkErrors(t, newCluster(cluster.Config{Seeds: []string{down}}), "k", "ERR backend unavailable")
		})
		t.Run("slow node", func(t *testing.T) {
			checkErrors(t, newCluster(cluster.Config{Seeds: []string{p1.Addr()}}), key(100), "ERR backend timeout")
		})
		t.Run("node not allowed", func(t *testing.T) {
			b := newCluster(cluster.Config{Seeds: []string{p2.Addr()}, Allow: []string{p2.Addr()}})
			checkErrors(t, b, key(6000), "ERR backend unavailable")
		})
		t.Run("slot migrating", func(t *testing.T) {
			// The key is on the target already: the source answers -ASK, which a
			// dedicated connection does not follow, and which names the target.
			k := key(6000)
			if err := p1.Client().Set(t.Context(), k, "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
			c.BeginMigration(t, 6000, p2)
			if n := c.MigrateKeys(t, 6000, 1); n != 1 {
				t.Fatalf("migrated %d keys", n)
			}
			checkErrors(t, newCluster(cluster.Config{Seeds: []string{p1.Addr()}}), k, "TRYAGAIN backend slot moving")
		})
		t.Run("node down", func(t *testing.T) {
			b := newCluster(cluster.Config{Seeds: []string{p1.Addr()}})
			p2.Kill()
			checkErrors(t, b, key(12000), "")
		})
	})
}

// checkErrors sends a mix of commands with key through a proxy in front of b, each
// group on a client of its own and all at once, and fails the test if an error reply
// names a server, or if want is not among the error replies.
func checkErrors(t *testing.T, b backend.Backend, key, want string) {
	t.Helper()
	srv := proxytest.NewServer(t, router.New(b), proxy.WithLogger(hclog.NewNullLogger()))
	k2 := key + "2"
	groups := [][][]string{
		{{"GET", key}},
		{{"SET", key, "v"}, {"GET", key}},
		{{"MGET", key, k2}},
		{{"MULTI"}, {"SET", key, "v"}, {"INCR", k2}, {"EXEC"}},
		{{"WATCH", key}, {"MULTI"}, {"GET", key}, {"EXEC"}},
		{{"BLPOP", key, "0.1"}},
		{{"SUBSCRIBE", "ch"}},
		{{"EVAL", "return redis.call('get', KEYS[1])", "1", key}},
		{{"SCRIPT", "KILL"}},
		{{"SELECT", "1"}, {"GET", key}},
		{{"MONITOR"}},
	}
	var (
		mu   sync.Mutex
		seen = map[string]bool{}
		wg   sync.WaitGroup
	)
	for _, cmds := range groups {
		c := proxytest.Dial(t, srv.Addr())
		wg.Go(func() {
			var out []byte
			for _, cmd := range cmds {
				out = resp.NewCommand(cmd...).AppendTo(out)
			}
			if _, err := c.Conn().Write(out); err != nil {
				t.Errorf("%q: write: %v", cmds, err)
				return
			}
			deadline := time.Now().Add(wait)
			if cmds[0][0] == "MONITOR" {
				// A stream has no reply timeout: a server that never answers keeps
				// the client waiting.
				deadline = time.Now().Add(2 * time.Second)
			}
			for _, cmd := range cmds {
				v, err := c.ReadBefore(deadline)
				if err != nil {
					// A stream (MONITOR) whose server connection fails ends with the
					// client's connection; every other command gets a reply.
					if cmd[0] != "MONITOR" || !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrDeadlineExceeded) {
						t.Errorf("%q: no reply to %q: %v", cmds, cmd, err)
					}
					return
				}
				for _, text := range errorTexts(v) {
					if m := addrPattern.FindString(text); m != "" {
						t.Errorf("%q: the reply to %q names a server (%q): %q", cmds, cmd, m, text)
					}
					mu.Lock()
					seen[text] = true
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	texts := make([]string, 0, len(seen))
	for text := range seen {
		texts = append(texts, text)
	}
	slices.Sort(texts)
	t.Logf("error replies: %q", texts)
	if len(texts) == 0 || want != "" && !seen[want] {
		t.Errorf("error replies %q; want %q among them", texts, want)
	}
}

// errorTexts returns the texts of the error replies in v, v itself or its elements.
func errorTexts(v resp.Value) []string {
	if v.Type == resp.TypeError {
		return []string{string(v.Str)}
	}
	var out []string
	for _, e := range v.Elems {
		out = append(out, errorTexts(e)...)
	}
	return out
}

// errsRedisConfig is the backend/redis configuration of these tests for addr: short
// timeouts, and a log into logs when it is not nil.
func errsRedisConfig(addr string, logs *syncBuffer) redisbackend.Config {
	log := hclog.NewNullLogger()
	if logs != nil {
		log = hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug})
	}
	return redisbackend.Config{Addr: addr, Logger: log, CommandTimeout: errsCommandTimeout, DialTimeout: errsDialTimeout}
}

// deadAddr returns an address of 127.0.0.1 on which nothing listens.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// blackhole returns the address of a server that accepts connections and never answers
// on them, as one stopped with SIGSTOP; it closes them when the test ends.
func blackhole(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, nc := range conns {
			nc.Close()
		}
	})
	return ln.Addr().String()
}

// fullServer starts a redis-server that takes one client, and takes it: the server
// refuses every other connection with -ERR max number of clients reached.
func fullServer(t *testing.T) *redistest.Server {
	s := redistest.Start(t, redistest.Args("--maxclients", "1"))
	if err := s.Client().Ping(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	return s
}

// syncBuffer is a bytes.Buffer safe for concurrent use: a log written by the backend's
// goroutines and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
