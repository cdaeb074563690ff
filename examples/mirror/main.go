// Command mirror is a proxy that sends a copy of its clients' reads and writes to a second
// Redis, the shadow, while the clients get the replies of the first: to try a new server
// under real traffic. The middleware is package mirror, written with the public API only,
// as a third party would.
//
//	go run ./examples/mirror -shadow 127.0.0.1:6390                          # embedded primary
//	go run ./examples/mirror -upstream 127.0.0.1:6379 -shadow 127.0.0.1:6390 -stats-every 10s
//
// Then: redis-cli -p 6380 set a 1; redis-cli -p 6390 get a (gives "1").
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"time"

	"github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/cli"
	"github.com/redchain/redchain/examples/mirror/mirror"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/router"
)

func main() { cli.Main("mirror", run) }

// run serves until ctx ends, then shuts down gracefully. ready, when not nil, is called
// with the proxy's address once it serves.
func run(ctx context.Context, args []string, logOut io.Writer, ready func(net.Addr)) error {
	fs := flag.NewFlagSet("mirror", flag.ContinueOnError)
	fs.SetOutput(logOut)
	var common cli.Flags
	common.Register(fs)
	shadowAddr := fs.String("shadow", "", "the shadow Redis host:port, which gets a copy of the reads and writes (required)")
	maxInflight := fs.Int("max-inflight", mirror.DefaultMaxInflight, "mirrored commands not yet answered by both servers, beyond which commands are not mirrored")
	every := fs.Duration("stats-every", time.Minute, "how often to log the mirror's counters (0: only when it stops)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *shadowAddr == "" {
		return errors.New("-shadow is required")
	}

	app, err := cli.Start(common, logOut)
	if err != nil {
		return err
	}
	defer app.Close()
	shadow, err := redis.New(redis.Config{Addr: *shadowAddr, Logger: app.Log.Named("shadow")})
	if err != nil {
		return err
	}
	defer shadow.Close() // after Serve: the proxy's loops, which its connections use, have stopped
	m, err := mirror.New(mirror.Config{Shadow: shadow, MaxInflight: *maxInflight})
	if err != nil {
		return err
	}
	app.Log.Info("mirroring", "shadow", *shadowAddr, "max_inflight", *maxInflight)
	if *every > 0 {
		stop := logStats(app, m, *every)
		defer stop()
	}
	err = app.Serve(ctx, app.NewServer(proxy.Chain(router.New(app.Backend, app.RouterOptions()...), m)), ready)
	report(app, m)
	return err
}

// logStats logs m's counters every d until stop is called; stop waits for the logger
// goroutine to end.
func logStats(app *cli.App, m *mirror.Mirror, d time.Duration) (stop func()) {
	done, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				report(app, m)
			}
		}
	}()
	return func() { close(done); <-ended }
}

// report logs m's counters.
func report(app *cli.App, m *mirror.Mirror) {
	s := m.Stats()
	app.Log.Info("mirror stats", "sent", s.Sent, "matched", s.Matched, "mismatched", s.Mismatched,
		"errors", s.Errors, "dropped", s.Dropped, "in_flight", s.InFlight)
}
