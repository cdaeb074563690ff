package auth_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	redisbackend "github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/middleware/auth"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/redistest"
	"github.com/redchain/redchain/router"
)

// stack is a real redis-server behind a real proxy serving
// proxy.Chain(router.New(backend/redis), a).
type stack struct {
	redis *redistest.Server
	proxy *proxytest.Server
}

func newStack(t *testing.T, a *auth.Auth) *stack {
	t.Helper()
	s := redistest.Start(t)
	b, err := redisbackend.New(redisbackend.Config{Addr: s.Addr(), Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("backend: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("backend close: %v", err)
		}
	})
	srv := proxytest.NewServer(t, proxy.Chain(router.New(b), a), proxy.WithLogger(testLogger(t)))
	t.Cleanup(func() { checkStats(t, srv) })
	return &stack{redis: s, proxy: srv}
}

// slowService is the external service of envoy#35983: it answers after 200ms.
func slowService() auth.Authenticator {
	return delayed(200*time.Millisecond, map[string]string{"alice": "secret"})
}

// pipelined writes AUTH alice <password>, PING, SET key v, GET key in one write and
// returns the four replies, each as its RESP encoding.
func pipelined(t *testing.T, addr, password, key string) []string {
	t.Helper()
	c := proxytest.Dial(t, addr)
	c.WriteRaw([]byte(fmt.Sprintf("*3\r\n$4\r\nAUTH\r\n$5\r\nalice\r\n$%d\r\n%s\r\n"+
		"*1\r\n$4\r\nPING\r\n"+
		"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n"+
		"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", len(password), password, len(key), key, len(key), key)))
	out := make([]string, 4)
	for i := range out {
		v := c.Read()
		if v.Raw != nil {
			v, _ = v.Decode()
		}
		out[i] = string(v.AppendTo(nil))
	}
	return out
}

var (
	wantOK    = []string{"+OK\r\n", "+PONG\r\n", "+OK\r\n", "$1\r\nv\r\n"}
	wantWrong = []string{"-" + wrongpass + "\r\n", "-" + noauth + "\r\n", "-" + noauth + "\r\n", "-" + noauth + "\r\n"}
)

// The Envoy bug (envoy#35983): commands pipelined in the same write as an AUTH that an
// asynchronous service answers 200ms later must run after it, as an authenticated
// client's, never get -NOAUTH.
func TestEnvoyPipelinedAuth(t *testing.T) {
	t.Parallel()
	st := newStack(t, newAuth(t, auth.Config{Authenticator: slowService()}))
	if got := pipelined(t, st.proxy.Addr(), "secret", "k"); strings.Join(got, "") != strings.Join(wantOK, "") {
		t.Fatalf("replies %q, want %q", got, wantOK)
	}
	if v, err := st.redis.Client().Get(context.Background(), "k").Result(); err != nil || v != "v" {
		t.Fatalf("redis has k=%q (%v), want v", v, err)
	}
}

// The same with a wrong password: -WRONGPASS, then -NOAUTH for each of the rest, and
// nothing reaches Redis.
func TestEnvoyPipelinedWrongPassword(t *testing.T) {
	t.Parallel()
	st := newStack(t, newAuth(t, auth.Config{Authenticator: slowService()}))
	if got := pipelined(t, st.proxy.Addr(), "wrong", "k"); strings.Join(got, "") != strings.Join(wantWrong, "") {
		t.Fatalf("replies %q, want %q", got, wantWrong)
	}
	if n, err := st.redis.Client().Exists(context.Background(), "k").Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS k = %d (%v) on redis: an unauthenticated SET went through", n, err)
	}
}

// 200 clients at once, each with the pipeline of the Envoy bug; every fourth one with a
// wrong password.
func TestEnvoyPipelinedManyConns(t *testing.T) {
	t.Parallel()
	st := newStack(t, newAuth(t, auth.Config{Authenticator: slowService()}))
	const conns = 200
	var wg sync.WaitGroup
	errs := make(chan string, conns)
	for i := range conns {
		wg.Go(func() {
			password, want := "secret", wantOK
			if i%4 == 3 {
				password, want = "wrong", wantWrong
			}
			if got := pipelined(t, st.proxy.Addr(), password, fmt.Sprintf("k%d", i)); strings.Join(got, "") != strings.Join(want, "") {
				errs <- fmt.Sprintf("conn %d: replies %q, want %q", i, got, want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
	n, err := st.redis.Client().DBSize(context.Background()).Result()
	if want := int64(conns - conns/4); err != nil || n != want {
		t.Errorf("redis holds %d keys (%v), want %d", n, err, want)
	}
}

// go-redis authenticates with HELLO 2 AUTH user password: auth checks it, and the router
// answers the HELLO 2 that is left.
func TestGoRedisHello(t *testing.T) {
	t.Parallel()
	st := newStack(t, newAuth(t, auth.Config{
		Users:         []auth.User{{Name: "bob", Password: "pw"}},
		Authenticator: delayed(10*time.Millisecond, map[string]string{"alice": "secret"}),
	}))
	ctx := context.Background()
	for _, u := range []struct{ name, password string }{{"alice", "secret"}, {"bob", "pw"}} {
		c := newGoRedis(st.proxy.Addr(), u.name, u.password)
		if err := c.Set(ctx, "user:"+u.name, u.name, 0).Err(); err != nil {
			t.Errorf("%s: SET: %v", u.name, err)
		}
		c.Close()
	}
	c := newGoRedis(st.proxy.Addr(), "alice", "wrong")
	defer c.Close()
	if err := c.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Errorf("PING with a wrong password: %v, want WRONGPASS", err)
	}
	v, err := st.redis.Client().MGet(ctx, "user:alice", "user:bob").Result()
	if err != nil || fmt.Sprint(v) != "[alice bob]" {
		t.Errorf("redis has %v (%v), want [alice bob]", v, err)
	}
}

// newGoRedis returns a go-redis client (RESP2) of addr that authenticates as user.
func newGoRedis(addr, user, password string) *goredis.Client {
	return goredis.NewClient(&goredis.Options{Addr: addr, Protocol: 2, Username: user, Password: password,
		ReadTimeout: wait, WriteTimeout: wait, MaxRetries: -1})
}
