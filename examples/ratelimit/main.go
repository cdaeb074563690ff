// Command ratelimit is a proxy that limits how fast clients may send commands: a token
// bucket per client IP (or connection, user, or one for all), refusing or delaying what
// goes over it, in front of one Redis server.
//
//	go run ./examples/ratelimit                                   # 100/s, burst 10, per IP, reject
//	go run ./examples/ratelimit -rate 5 -burst 2 -mode delay      # slow clients down instead
//	go run ./examples/ratelimit -upstream 127.0.0.1:6379 -per global
//
// Then: redis-benchmark -p 6380 -t ping -n 1000, or redis-cli -p 6380 -r 20 incr n.
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
	"github.com/redchain/redchain/middleware/ratelimit"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/router"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "ratelimit:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then shuts down gracefully. ready, when not nil, is called
// with the proxy's listening address once it serves.
func run(ctx context.Context, args []string, logOut io.Writer, ready func(net.Addr)) error {
	fs := flag.NewFlagSet("ratelimit", flag.ContinueOnError)
	fs.SetOutput(logOut)
	listen := fs.String("listen", "127.0.0.1:6380", "address to accept Redis clients on")
	upstream := fs.String("upstream", "", "Redis server host:port (empty: start an embedded one)")
	level := fs.String("log-level", "info", "log level: trace, debug, info, warn, error")
	var cfg ratelimit.Config
	fs.Float64Var(&cfg.Rate, "rate", 100, "commands per second a bucket allows")
	fs.IntVar(&cfg.Burst, "burst", 10, "commands a bucket allows at once")
	fs.TextVar(&cfg.Per, "per", ratelimit.IP, "what shares a bucket: conn, ip, user or global")
	fs.TextVar(&cfg.Mode, "mode", ratelimit.Reject, "over the limit: reject (an error reply) or delay (wait for a token)")
	fs.DurationVar(&cfg.MaxDelay, "max-delay", ratelimit.DefaultMaxDelay, "delay mode: reject a command that would wait longer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	lim, err := ratelimit.New(cfg)
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

	b, err := redis.New(redis.Config{Addr: *upstream, Logger: log.Named("backend")})
	if err != nil {
		return err
	}
	defer b.Close()

	log.Info("rate limit", "rate", cfg.Rate, "burst", cfg.Burst, "per", cfg.Per, "mode", cfg.Mode, "max_delay", cfg.MaxDelay)
	srv := proxy.New(proxy.Chain(router.New(b), lim), proxy.WithLogger(log))
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
