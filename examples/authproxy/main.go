// Command authproxy is a redchain proxy that authenticates its clients: every command
// goes to one Redis server, but only after the client has sent AUTH (or HELLO ... AUTH)
// with a valid username and password. The users are checked by an asynchronous
// Authenticator that answers after -auth-latency, as an external service (a directory,
// an HTTP API) would; commands pipelined behind AUTH wait for its answer.
//
//	go run ./examples/authproxy                                   # an embedded Redis, user alice:secret
//	go run ./examples/authproxy -users alice:secret,bob:pw -auth-latency 200ms -upstream 127.0.0.1:6379
//
// Then: redis-cli -p 6380 --user alice --pass secret set a 1.
package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hashicorp/go-hclog"

	"github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/middleware/auth"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/router"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "authproxy:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then shuts down gracefully. ready, when not nil, is called
// with the proxy's address once it serves.
func run(ctx context.Context, args []string, logOut io.Writer, ready func(net.Addr)) error {
	fs := flag.NewFlagSet("authproxy", flag.ContinueOnError)
	fs.SetOutput(logOut)
	listen := fs.String("listen", "127.0.0.1:6380", "address to accept Redis clients on")
	upstream := fs.String("upstream", "", "Redis server host:port (empty: start an embedded one)")
	password := fs.String("upstream-password", "", "password for the upstream Redis")
	level := fs.String("log-level", "info", "log level: trace, debug, info, warn, error")
	usersFlag := fs.String("users", "alice:secret", "the users the authentication service knows, as name:password,name:password")
	latency := fs.Duration("auth-latency", 200*time.Millisecond, "how long the authentication service takes to answer")
	timeout := fs.Duration("auth-timeout", auth.DefaultTimeout, "how long a check may take before the client gets an error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *latency < 0 {
		return fmt.Errorf("-auth-latency %v: negative", *latency)
	}
	users, err := parseUsers(*usersFlag)
	if err != nil {
		return fmt.Errorf("-users: %w", err)
	}

	log := hclog.New(&hclog.LoggerOptions{Name: "redchain", Level: hclog.LevelFromString(*level), Output: logOut})

	a, err := auth.New(auth.Config{
		Authenticator: &service{users: users, latency: *latency, log: log.Named("auth")},
		Timeout:       *timeout,
	})
	if err != nil {
		return err
	}
	log.Info("authentication service", "users", len(users), "latency", *latency)

	if *upstream == "" {
		mini := miniredis.NewMiniRedis()
		if err := mini.StartAddr("127.0.0.1:0"); err != nil {
			return fmt.Errorf("embedded redis: %w", err)
		}
		defer mini.Close()
		*upstream = mini.Addr()
		log.Info("no -upstream given: using an embedded, in-memory Redis (miniredis) for trying things out", "addr", *upstream)
	}

	b, err := redis.New(redis.Config{Addr: *upstream, Password: *password, Logger: log.Named("backend")})
	if err != nil {
		return err
	}
	defer b.Close()

	srv := proxy.New(proxy.Chain(router.New(b), a), proxy.WithLogger(log))
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe(*listen) }()
	<-srv.Ready()
	if ready != nil && srv.Addr() != nil {
		ready(srv.Addr())
	}

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		log.Info("shutting down")
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, proxy.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// parseUsers reads "name:password,name:password" into SHA-256 hashes of the passwords.
func parseUsers(s string) (map[string][sha256.Size]byte, error) {
	users := map[string][sha256.Size]byte{}
	for _, pair := range strings.Split(s, ",") {
		name, pw, ok := strings.Cut(strings.TrimSpace(pair), ":")
		if !ok || name == "" || pw == "" {
			return nil, fmt.Errorf("%q: want name:password", pair)
		}
		if _, dup := users[name]; dup {
			return nil, fmt.Errorf("user %q is listed twice", name)
		}
		users[name] = sha256.Sum256([]byte(pw))
	}
	return users, nil
}

// service stands in for an external authentication service: it answers latency after
// it is asked, from a timer's goroutine, and never blocks the caller.
type service struct {
	users   map[string][sha256.Size]byte // read-only
	latency time.Duration
	log     hclog.Logger
}

// Authenticate implements auth.Authenticator.
func (s *service) Authenticate(ctx context.Context, user, password string, done func(bool, error)) {
	time.AfterFunc(s.latency, func() {
		if err := ctx.Err(); err != nil {
			done(false, err) // the client went away or the check timed out: nobody waits
			return
		}
		want, known := s.users[user]
		got := sha256.Sum256([]byte(password))
		ok := subtle.ConstantTimeCompare(got[:], want[:]) == 1 && known
		s.log.Debug("checked", "user", user, "ok", ok)
		done(ok, nil)
	})
}

var _ auth.Authenticator = (*service)(nil)
