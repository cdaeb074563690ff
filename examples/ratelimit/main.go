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
	"flag"
	"io"
	"net"

	"github.com/redchain/redchain/cli"
	"github.com/redchain/redchain/middleware/ratelimit"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/router"
)

func main() { cli.Main("ratelimit", run) }

// run serves until ctx ends, then shuts down gracefully. ready, when not nil, is called
// with the proxy's listening address once it serves.
func run(ctx context.Context, args []string, logOut io.Writer, ready func(net.Addr)) error {
	fs := flag.NewFlagSet("ratelimit", flag.ContinueOnError)
	fs.SetOutput(logOut)
	var common cli.Flags
	common.Register(fs)
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

	app, err := cli.Start(common, logOut)
	if err != nil {
		return err
	}
	defer app.Close()
	app.Log.Info("rate limit", "rate", cfg.Rate, "burst", cfg.Burst, "per", cfg.Per, "mode", cfg.Mode, "max_delay", cfg.MaxDelay)
	return app.Serve(ctx, app.NewServer(proxy.Chain(router.New(app.Backend, app.RouterOptions()...), lim)), ready)
}
