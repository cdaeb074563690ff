// Command clusterproxy is a proxy in front of a Redis Cluster: clients that know nothing
// of clusters (no MOVED, no hash slots) talk to it as to one Redis, and it sends each
// command to the node that serves its keys, following redirections and failovers.
//
//	go run ./examples/clusterproxy -cluster 127.0.0.1:7000,127.0.0.1:7001
//	go run ./examples/clusterproxy -cluster 10.0.0.1:7000 -addr-map 172.16.0.1:7000=10.0.0.1:7000 -allow '10.0.0.1:*'
//	go run ./examples/clusterproxy -cluster 127.0.0.1:7000 -read-from replica
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
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/backend/cluster"
	"github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/cli"
	"github.com/redchain/redchain/router"
)

func main() { cli.Main("clusterproxy", run) }

// options are the command's own flags.
type options struct {
	seeds     []string
	addrMap   map[string]string
	allow     []string
	readFrom  cluster.ReadFrom
	maxShards int
}

// parse reads the command line into the common flags and the command's own.
func parse(args []string, logOut io.Writer) (cli.Flags, options, error) {
	fs := flag.NewFlagSet("clusterproxy", flag.ContinueOnError)
	fs.SetOutput(logOut)
	var common cli.Flags
	common.Register(fs)
	seeds := fs.String("cluster", "", "comma-separated cluster nodes to read the slot map from, host:port,... (required)")
	addrMap := fs.String("addr-map", "", "comma-separated FROM=TO: dial TO for a node that announces FROM (host:port each)")
	allow := fs.String("allow", "", "comma-separated host:port or host:* the proxy may dial (empty: any)")
	readFrom := fs.String("read-from", "primary", "where read-only commands go: primary or replica")
	maxShards := fs.Int("max-shards", 0, "most shards one command may touch; wider ones are refused (router.WithFanout; 0: no cap)")
	if err := fs.Parse(args); err != nil {
		return common, options{}, err
	}
	var o options
	o.seeds = split(*seeds)
	if len(o.seeds) == 0 {
		return common, o, errors.New("-cluster is required: give one or more cluster nodes as host:port,host:port")
	}
	if common.Upstream != "" {
		return common, o, errors.New("-upstream is not used by clusterproxy: give the cluster's nodes with -cluster")
	}
	for _, m := range split(*addrMap) {
		from, to, ok := strings.Cut(m, "=")
		if !ok {
			return common, o, fmt.Errorf("-addr-map %q: want FROM=TO", m)
		}
		if o.addrMap == nil {
			o.addrMap = map[string]string{}
		}
		o.addrMap[strings.TrimSpace(from)] = strings.TrimSpace(to)
	}
	o.allow = split(*allow)
	var err error
	if o.readFrom, err = cluster.ParseReadFrom(*readFrom); err != nil {
		return common, o, fmt.Errorf("-read-from: %w", err)
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
	var b *cluster.Backend
	app, err := cli.StartWith(common, logOut, func(log hclog.Logger) (backend.Backend, error) {
		var err error
		b, err = cluster.New(cluster.Config{
			Seeds:    o.seeds,
			Redis:    redis.Config{Password: common.UpstreamPassword, Logger: log.Named("backend")},
			AddrMap:  o.addrMap,
			Allow:    o.allow,
			ReadFrom: o.readFrom,
		})
		return b, err
	})
	if err != nil {
		return err
	}
	defer app.Close() // closes b, after Serve has stopped the server
	app.Log.Info("cluster proxy", "seeds", strings.Join(o.seeds, ","), "shards", b.Shards(),
		"read_from", o.readFrom, "addr_map", len(o.addrMap), "allow", strings.Join(o.allow, ","))
	h := router.New(b, append(app.RouterOptions(), router.WithFanout(router.FanoutConfig{MaxShards: o.maxShards}))...)
	return app.Serve(ctx, app.NewServer(h), ready)
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
