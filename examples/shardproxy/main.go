// Command shardproxy is a proxy in front of several independent Redis servers that spreads
// keys over them by consistent hashing (ketama, placing keys where twemproxy does), and
// makes them answer like one Redis: MGET, MSET, DEL and their kin are split by server and
// merged, KEYS, SCAN, DBSIZE and FLUSHALL run on every server (router.WithFanout).
//
//	go run ./examples/shardproxy                    # three embedded Redis, for trying it out
//	go run ./examples/shardproxy -shards 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003
//	go run ./examples/shardproxy -shards redis1=10.0.0.1:6379,redis2=10.0.0.2:6379 -max-shards 2
//
// Then: redis-cli -p 6380 mset a 1 b 2 c 3; redis-cli -p 6380 keys '*'.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/alicebob/miniredis/v2"
	"github.com/hashicorp/go-hclog"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/backend/shard"
	"github.com/redchain/redchain/cli"
	"github.com/redchain/redchain/router"
)

func main() { cli.Main("shardproxy", run) }

// embeddedShards is how many embedded Redis servers run without -shards.
const embeddedShards = 3

// options are the command's own flags.
type options struct {
	servers   []shard.Server // none: embedded servers
	maxShards int
}

// parse reads the command line into the common flags and the command's own.
func parse(args []string, logOut io.Writer) (cli.Flags, options, error) {
	fs := flag.NewFlagSet("shardproxy", flag.ContinueOnError)
	fs.SetOutput(logOut)
	var common cli.Flags
	common.Register(fs)
	shards := fs.String("shards", "", "comma-separated Redis servers, host:port or name=host:port (twemproxy's server names); empty: three embedded ones")
	maxShards := fs.Int("max-shards", 0, "most servers one command may touch at once (0: no cap)")
	if err := fs.Parse(args); err != nil {
		return common, options{}, err
	}
	var o options
	if common.Upstream != "" {
		return common, o, errors.New("-upstream is not used by shardproxy: give the servers with -shards")
	}
	for _, s := range strings.Split(*shards, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		name, addr, named := strings.Cut(s, "=")
		if !named {
			name, addr = "", s
		}
		o.servers = append(o.servers, shard.Server{Name: strings.TrimSpace(name), Addr: strings.TrimSpace(addr)})
	}
	if *maxShards < 0 {
		return common, o, errors.New("-max-shards: want 0 (no cap) or more")
	}
	o.maxShards = *maxShards
	return common, o, nil
}

// run serves until ctx ends, then shuts down gracefully. ready, when not nil, is called
// with the proxy's address once it serves.
func run(ctx context.Context, args []string, logOut io.Writer, ready func(net.Addr)) error {
	common, o, err := parse(args, logOut)
	if err != nil {
		return err
	}
	embedded := len(o.servers) == 0
	if embedded {
		for i := range embeddedShards {
			m := miniredis.NewMiniRedis()
			if err := m.StartAddr("127.0.0.1:0"); err != nil {
				return fmt.Errorf("embedded redis: %w", err)
			}
			defer m.Close()
			o.servers = append(o.servers, shard.Server{Name: fmt.Sprintf("embedded%d", i+1), Addr: m.Addr()})
		}
	}
	if embedded {
		common.NoLearn = true // miniredis's COMMAND is not Redis's
	}
	var b *shard.Backend
	app, err := cli.StartWith(common, logOut, func(log hclog.Logger) (backend.Backend, error) {
		var err error
		b, err = shard.New(shard.Config{
			Servers: o.servers,
			Redis:   redis.Config{Password: common.UpstreamPassword, Logger: log.Named("backend")},
		})
		return b, err
	})
	if err != nil {
		return err
	}
	defer app.Close() // closes b, after Serve has stopped the server
	if embedded {
		app.Log.Info("no -shards given: using three embedded, in-memory Redis servers (miniredis) for trying things out")
	}
	addrs := make([]string, len(o.servers))
	for i, s := range o.servers {
		addrs[i] = s.Addr
	}
	app.Log.Info("shard proxy", "servers", strings.Join(addrs, ","), "shards", b.Shards(), "max_shards", o.maxShards)

	h := router.New(b, append(app.RouterOptions(), router.WithFanout(router.FanoutConfig{MaxShards: o.maxShards}))...)
	return app.Serve(ctx, app.NewServer(h), ready)
}
