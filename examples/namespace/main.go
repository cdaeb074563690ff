// Command namespace is a proxy that confines its clients to a key namespace: every key
// gets a prefix on the way in and loses it on the way out, so that several applications
// can share one Redis without seeing each other's keys. It can also deny and rename
// commands.
//
//	go run ./examples/namespace -prefix tenant1: -deny FLUSHALL,FLUSHDB -rename CONFIG=
//	go run ./examples/namespace -upstream 127.0.0.1:6379 -prefix app: -rename FLUSHALL=,X-FLUSH=FLUSHALL
//
// Then: redis-cli -p 6380 set a 1; redis-cli -p 6380 keys '*' (gives "a"), while the
// server holds "tenant1:a".
package main

import (
	"context"
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
	"github.com/redchain/redchain/middleware/rewrite"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/router"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "namespace:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then shuts down gracefully. ready, when not nil, is called
// with the proxy's address once it serves.
func run(ctx context.Context, args []string, logOut io.Writer, ready func(net.Addr)) error {
	fs := flag.NewFlagSet("namespace", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:6380", "address to accept Redis clients on")
	upstream := fs.String("upstream", "", "Redis server host:port (empty: start an embedded one)")
	password := fs.String("upstream-password", "", "password for the upstream Redis")
	level := fs.String("log-level", "info", "log level: trace, debug, info, warn, error")
	prefix := fs.String("prefix", "", "key namespace of every client, e.g. tenant1: (empty: none)")
	deny := fs.String("deny", "", "comma-separated commands to refuse, e.g. FLUSHALL,FLUSHDB")
	rename := fs.String("rename", "", "comma-separated FROM=TO renames; an empty TO hides FROM, e.g. CONFIG=,X-CONFIG=CONFIG")
	allow := fs.String("allow", "", "comma-separated commands a namespace refuses that are let through, e.g. dbsize")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := rewrite.Config{Prefix: *prefix, Deny: split(*deny), Allow: split(*allow)}
	for _, r := range split(*rename) {
		from, to, ok := strings.Cut(r, "=")
		if !ok {
			return fmt.Errorf("-rename %q: want FROM=TO", r)
		}
		if cfg.Rename == nil {
			cfg.Rename = map[string]string{}
		}
		cfg.Rename[from] = to
	}
	rw, err := rewrite.New(cfg)
	if err != nil {
		return err
	}

	log := hclog.New(&hclog.LoggerOptions{Name: "redchain", Level: hclog.LevelFromString(*level), Output: logOut})
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

	srv := proxy.New(proxy.Chain(router.New(b), rw), proxy.WithLogger(log))
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe(*listen) }()
	<-srv.Ready()
	if srv.Addr() != nil {
		log.Info("namespace proxy", "prefix", *prefix, "deny", *deny, "rename", *rename)
		if ready != nil {
			ready(srv.Addr())
		}
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

// split splits a comma-separated list, dropping blanks around the items.
func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
