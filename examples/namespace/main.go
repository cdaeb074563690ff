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
	"flag"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/redchain/redchain/cli"
	"github.com/redchain/redchain/middleware/rewrite"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/router"
)

func main() { cli.Main("namespace", run) }

// run serves until ctx ends, then shuts down gracefully. ready, when not nil, is called
// with the proxy's address once it serves.
func run(ctx context.Context, args []string, logOut io.Writer, ready func(net.Addr)) error {
	fs := flag.NewFlagSet("namespace", flag.ContinueOnError)
	fs.SetOutput(logOut)
	var common cli.Flags
	common.Register(fs)
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

	app, err := cli.Start(common, logOut)
	if err != nil {
		return err
	}
	defer app.Close()
	app.Log.Info("namespace proxy", "prefix", *prefix, "deny", *deny, "rename", *rename)
	return app.Serve(ctx, app.NewServer(proxy.Chain(router.New(app.Backend, app.RouterOptions()...), rw)), ready)
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
