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
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/redchain/redchain/cli"
	"github.com/redchain/redchain/middleware/auth"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/router"
)

func main() { cli.Main("authproxy", run) }

// run serves until ctx ends, then shuts down gracefully. ready, when not nil, is called
// with the proxy's address once it serves.
func run(ctx context.Context, args []string, logOut io.Writer, ready func(net.Addr)) error {
	fs := flag.NewFlagSet("authproxy", flag.ContinueOnError)
	fs.SetOutput(logOut)
	var common cli.Flags
	common.Register(fs)
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

	app, err := cli.Start(common, logOut)
	if err != nil {
		return err
	}
	defer app.Close()
	a, err := auth.New(auth.Config{
		Authenticator: &service{users: users, latency: *latency, log: app.Log.Named("auth")},
		Timeout:       *timeout,
	})
	if err != nil {
		return err
	}
	app.Log.Info("authentication service", "users", len(users), "latency", *latency)
	return app.Serve(ctx, app.NewServer(proxy.Chain(router.New(app.Backend, app.RouterOptions()...), a)), ready)
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
