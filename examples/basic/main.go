// Command basic is the smallest useful redchain proxy: it forwards every command to one
// Redis server, keeping each client's replies in order.
//
//	go run ./examples/basic                          # an embedded Redis, for trying it out
//	go run ./examples/basic -upstream 127.0.0.1:6379 # a real one
//	go run ./examples/basic -metrics-addr 127.0.0.1:9121 -pprof-addr 127.0.0.1:6060
//
// Then: redis-cli -p 6380 set a 1; redis-cli -p 6380 get a; curl 127.0.0.1:9121/metrics.
package main

import (
	"context"
	"flag"
	"io"
	"net"

	"github.com/redchain/redchain/cli"
	"github.com/redchain/redchain/router"
)

func main() { cli.Main("basic", run) }

// addrs are the addresses run listens on.
type addrs struct {
	proxy   net.Addr
	metrics net.Addr // nil without -metrics-addr
	pprof   net.Addr // nil without -pprof-addr
}

// run serves until ctx ends, then shuts down gracefully. ready, when not nil, is called
// with the listening addresses once everything serves.
func run(ctx context.Context, args []string, logOut io.Writer, ready func(addrs)) error {
	fs := flag.NewFlagSet("basic", flag.ContinueOnError)
	fs.SetOutput(logOut)
	var common cli.Flags
	common.Register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}

	app, err := cli.Start(common, logOut)
	if err != nil {
		return err
	}
	defer app.Close()
	srv := app.NewServer(router.New(app.Backend, app.RouterOptions()...))
	return app.Serve(ctx, srv, func(a net.Addr) {
		if ready != nil {
			ready(addrs{proxy: a, metrics: app.MetricsAddr(), pprof: app.PprofAddr()})
		}
	})
}
