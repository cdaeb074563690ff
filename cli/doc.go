// Package cli is the flags and lifecycle a redchain proxy binary needs: a listen address,
// an upstream Redis or an embedded one, a log level, event loops, optional Prometheus
// metrics and pprof endpoints (off unless asked for), and a graceful stop.
//
// A command's main is Main(name, run). Its run registers the common flags next to its
// own, starts an App (a logger, an embedded miniredis when no upstream is given, and a
// backend/redis to the upstream), builds its chain on App.Backend, and serves it until its
// context ends. A command with a backend of its own (a cluster, a shard set) starts the
// App with StartWith instead, so that the App learns that backend's commands, reports
// its gauges with -metrics-addr and closes it. Package clitest runs such a run function
// in tests.
//
//	func main() { cli.Main("myproxy", run) }
//
//	func run(ctx context.Context, args []string, logOut io.Writer, ready func(net.Addr)) error {
//		fs := flag.NewFlagSet("myproxy", flag.ContinueOnError)
//		var f cli.Flags
//		f.Register(fs)
//		// ... the command's own flags ...
//		if err := fs.Parse(args); err != nil {
//			return err
//		}
//		app, err := cli.Start(f, logOut)
//		if err != nil {
//			return err
//		}
//		defer app.Close()
//		srv := app.NewServer(proxy.Chain(router.New(app.Backend), mws...))
//		return app.Serve(ctx, srv, ready)
//	}
//
// # Threading
//
// Main, Flags.Register, Start, StartWith and Close are for the goroutine that sets the command up. Serve
// blocks until its context ends or the server fails; it calls ready on its own goroutine,
// once, after the server listens and before it waits for the context, so ready may cancel
// that context. App.Log and App.Backend are safe from any goroutine, as hclog.Logger and
// the backends of this module are.
//
// # Order
//
// Serve stops the server gracefully (proxy.Server.Shutdown, up to ShutdownTimeout) and
// logs "stopped" before it returns; Close then closes the backend and the embedded Redis.
// Defer Close right after Start, so that it runs after Serve.
package cli
