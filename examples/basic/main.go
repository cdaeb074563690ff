// Command basic is the smallest useful redchain proxy: it forwards every command to one
// Redis server, keeping each client's replies in order.
//
//	go run ./examples/basic                          # an embedded Redis, for trying it out
//	go run ./examples/basic -upstream 127.0.0.1:6379 # a real one
//
// Then: redis-cli -p 6380 set a 1; redis-cli -p 6380 get a.
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
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hashicorp/go-hclog"

	"github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/router"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "basic:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then shuts down gracefully. ready, when not nil, is called
// with the listening address.
func run(ctx context.Context, args []string, logOut io.Writer, ready func(net.Addr)) error {
	fs := flag.NewFlagSet("basic", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:6380", "address to accept Redis clients on")
	upstream := fs.String("upstream", "", "Redis server host:port (empty: start an embedded one)")
	password := fs.String("upstream-password", "", "password for the upstream Redis")
	level := fs.String("log-level", "info", "log level: trace, debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
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

	srv := proxy.New(router.New(b), proxy.WithLogger(log))
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
