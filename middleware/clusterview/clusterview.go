package clusterview

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
)

// Config configures a View.
type Config struct {
	// Self is this proxy's address as clients reach it, "host:port". It must be one of
	// Proxies. Required.
	Self string
	// Proxies are the addresses of every proxy of the tier, Self included, the same
	// list on each of them: the slots are spread over the live ones in this order.
	// Required.
	Proxies []string
	// CheckInterval is how often the other proxies are checked (a PING on a connection
	// of its own); one that has not answered two checks in a row is left out of the map
	// until it answers again (default 1s).
	CheckInterval time.Duration
}

// DefaultCheckInterval is Config.CheckInterval's default.
const DefaultCheckInterval = time.Second

// View is the middleware. It is safe for concurrent use by every connection of a
// server; see the package doc.
type View struct {
	self    node
	nodes   []node
	every   time.Duration
	live    atomic.Pointer[[]bool] // by index of nodes
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closeMu sync.Once
}

// node is one proxy of the tier.
type node struct {
	addr string
	host string
	port int
	id   string // 40 hex characters, from the address: the same on every proxy
}

var _ proxy.Middleware = (*View)(nil)

// New validates cfg and starts checking the other proxies; call Close when done.
func New(cfg Config) (*View, error) {
	if cfg.CheckInterval < 0 {
		return nil, errors.New("clusterview: Config.CheckInterval is negative")
	}
	v := &View{every: cfg.CheckInterval}
	if v.every == 0 {
		v.every = DefaultCheckInterval
	}
	self := -1
	for _, a := range cfg.Proxies {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			return nil, fmt.Errorf("clusterview: proxy %q: %w", a, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p <= 0 || p > 65535 {
			return nil, fmt.Errorf("clusterview: proxy %q: bad port", a)
		}
		if slices.ContainsFunc(v.nodes, func(n node) bool { return n.addr == a }) {
			return nil, fmt.Errorf("clusterview: proxy %q listed twice", a)
		}
		sum := sha1.Sum([]byte(a))
		if a == cfg.Self {
			self = len(v.nodes)
		}
		v.nodes = append(v.nodes, node{addr: a, host: host, port: p, id: hex.EncodeToString(sum[:])})
	}
	if self < 0 {
		return nil, fmt.Errorf("clusterview: Config.Self %q is not one of Config.Proxies", cfg.Self)
	}
	v.self = v.nodes[self]
	live := make([]bool, len(v.nodes))
	for i := range live {
		live[i] = true // until a check says otherwise
	}
	v.live.Store(&live)
	ctx, cancel := context.WithCancel(context.Background())
	v.cancel = cancel
	v.wg.Add(1)
	go v.check(ctx)
	return v, nil
}

// Close stops checking the other proxies and waits for the checks to end.
func (v *View) Close() error {
	v.closeMu.Do(func() {
		v.cancel()
		v.wg.Wait()
	})
	return nil
}

// check pings the other proxies every interval and publishes which answer.
func (v *View) check(ctx context.Context) {
	defer v.wg.Done()
	t := time.NewTicker(v.every)
	defer t.Stop()
	missed := make([]int, len(v.nodes)) // checks in a row without an answer
	for {
		var wg sync.WaitGroup
		for i, n := range v.nodes {
			if n.addr == v.self.addr {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if ping(ctx, n.addr, v.every) == nil {
					missed[i] = 0
				} else {
					missed[i]++
				}
			}()
		}
		wg.Wait()
		live := make([]bool, len(v.nodes))
		for i := range live {
			live[i] = missed[i] < 2 // one miss may be a proxy starting, or a blip
		}
		v.live.Store(&live)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ping sends PING to addr on a connection of its own; any reply within timeout will do.
func ping(ctx context.Context, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	if _, err := nc.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	var one [1]byte
	_, err = nc.Read(one[:])
	return err
}

// slotRange is the slots one proxy serves.
type slotRange struct {
	first, last int
	n           node
}

// ranges spreads the slots over the live proxies, in the order of Config.Proxies.
func (v *View) ranges() []slotRange {
	live := *v.live.Load()
	var up []node
	for i, n := range v.nodes {
		if live[i] {
			up = append(up, n)
		}
	}
	out := make([]slotRange, len(up))
	for i, n := range up {
		out[i] = slotRange{first: i * command.SlotCount / len(up), last: (i+1)*command.SlotCount/len(up) - 1, n: n}
	}
	return out
}

// ServeRESP answers CLUSTER, READONLY, READWRITE and ASKING as a node of the tier's
// cluster would, presents INFO as a cluster node's, and passes everything else on.
func (v *View) ServeRESP(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	args := req.Args()
	c, ok := command.LookupArgs(args)
	if !ok {
		next.ServeRESP(ctx, w, req)
		return
	}
	switch {
	case c.Name == "readonly" || c.Name == "readwrite" || c.Name == "asking":
		if len(args) != 1 {
			next.ServeRESP(ctx, w, req) // the arity error
			return
		}
		w.WriteReply(resp.OK)
	case strings.HasPrefix(c.Name, "cluster|"):
		if reply, ok := v.cluster(c, args); ok {
			w.WriteReply(reply)
			return
		}
		next.ServeRESP(ctx, w, req)
	case c.Name == "info":
		next.ServeRESP(ctx, clusterInfo(w), req)
	default:
		next.ServeRESP(ctx, w, req)
	}
}

// clusterInfo presents an INFO reply as a cluster node's.
func clusterInfo(w proxy.ReplyWriter) proxy.ReplyWriter {
	return proxy.WriterFunc(func(r resp.Value) bool {
		d, err := r.Decode()
		if err != nil || (d.Type != resp.TypeBulkString && d.Type != resp.TypeVerbatimString) {
			return w.WriteReply(r)
		}
		s := bytes.Replace(d.Str, []byte("redis_mode:standalone"), []byte("redis_mode:cluster"), 1)
		s = bytes.Replace(s, []byte("cluster_enabled:0"), []byte("cluster_enabled:1"), 1)
		d.Str = s
		return w.WriteReply(d)
	})
}

// cluster answers a CLUSTER subcommand; ok is false for those passed on (arity errors
// are the model's to give, and the others are refused as by a standalone server).
func (v *View) cluster(c *command.Info, args [][]byte) (resp.Value, bool) {
	if !c.ArityOK(len(args)) {
		return resp.Value{}, false
	}
	switch c.Name {
	case "cluster|myid", "cluster|myshardid":
		return resp.BulkString(v.self.id), true
	case "cluster|keyslot":
		return resp.Integer(int64(command.Slot(args[2]))), true
	case "cluster|slots":
		var out []resp.Value
		for _, r := range v.ranges() {
			out = append(out, resp.Array(resp.Integer(int64(r.first)), resp.Integer(int64(r.last)),
				resp.Array(resp.BulkString(r.n.host), resp.Integer(int64(r.n.port)), resp.BulkString(r.n.id), resp.Array())))
		}
		return resp.Array(out...), true
	case "cluster|shards":
		var out []resp.Value
		for _, r := range v.ranges() {
			out = append(out, resp.Array(
				resp.BulkString("slots"), resp.Array(resp.Integer(int64(r.first)), resp.Integer(int64(r.last))),
				resp.BulkString("nodes"), resp.Array(resp.Array(
					resp.BulkString("id"), resp.BulkString(r.n.id),
					resp.BulkString("port"), resp.Integer(int64(r.n.port)),
					resp.BulkString("ip"), resp.BulkString(r.n.host),
					resp.BulkString("endpoint"), resp.BulkString(r.n.host),
					resp.BulkString("role"), resp.BulkString("master"),
					resp.BulkString("replication-offset"), resp.Integer(0),
					resp.BulkString("health"), resp.BulkString("online")))))
		}
		return resp.Array(out...), true
	case "cluster|nodes":
		var b strings.Builder
		for _, r := range v.ranges() {
			flags := "master"
			if r.n.addr == v.self.addr {
				flags = "myself,master"
			}
			fmt.Fprintf(&b, "%s %s:%d@0 %s - 0 0 1 connected %d-%d\n", r.n.id, r.n.host, r.n.port, flags, r.first, r.last)
		}
		return resp.BulkString(b.String()), true
	case "cluster|info":
		n := len(v.ranges())
		return resp.BulkString(fmt.Sprintf("cluster_state:ok\r\ncluster_slots_assigned:%d\r\ncluster_slots_ok:%d\r\n"+
			"cluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:%d\r\ncluster_size:%d\r\n"+
			"cluster_current_epoch:1\r\ncluster_my_epoch:1\r\n", command.SlotCount, command.SlotCount, n, n)), true
	}
	return resp.Error("ERR", "redchain: CLUSTER "+strings.ToUpper(string(args[1]))+" is not answered by a proxy tier presented as a cluster"), true
}
