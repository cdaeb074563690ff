package cluster

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redchain/redchain/backend/redis"
)

// Defaults of the Config fields left zero.
const (
	DefaultMaxRedirects       = 5
	DefaultRefreshInterval    = 5 * time.Second
	DefaultMinRefreshInterval = 100 * time.Millisecond
	DefaultRefreshTimeout     = time.Second
)

// ReadFrom says which nodes of a shard serve its read-only commands.
type ReadFrom uint8

const (
	// Primary sends every command to the shard's primary: reads see every
	// acknowledged write. The default.
	Primary ReadFrom = iota
	// Replica sends read-only commands with keys (GET, HGETALL, ZRANGE, ...: the
	// command table's ReadOnly flag) to a replica of the slot's shard, and everything
	// else to its primary. Replication is asynchronous: a read may miss a write the
	// primary has acknowledged. A session's reads stick to one replica of a shard (the
	// session id picks it) while the set of replicas does not change. When the shard has
	// no healthy replica, or the chosen one cannot be reached, the read goes to the
	// primary. Every node connection then sends READONLY after connecting.
	Replica
)

// String returns "primary" or "replica".
func (r ReadFrom) String() string {
	switch r {
	case Primary:
		return "primary"
	case Replica:
		return "replica"
	}
	return fmt.Sprintf("ReadFrom(%d)", uint8(r))
}

// ParseReadFrom parses "primary" or "replica" (any case), for flags.
func ParseReadFrom(s string) (ReadFrom, error) {
	switch strings.ToLower(s) {
	case "primary", "master", "":
		return Primary, nil
	case "replica", "slave":
		return Replica, nil
	}
	return Primary, fmt.Errorf("cluster: ReadFrom %q: want primary or replica", s)
}

// Config configures a [Backend]. Only Seeds is required; a zero field takes its default.
type Config struct {
	// Seeds are addresses ("host:port") of cluster nodes to learn the topology from. New
	// asks them in order until one answers; later refreshes ask the known nodes first and
	// the seeds last. Seeds are dialled as they are: AddrMap and Allow do not apply to
	// them. At least one.
	Seeds []string
	// Redis is the template of every node's backend/redis Config: connections per node,
	// timeouts, backoff, credentials, logger. Its Addr is set per node, its ReadOnly
	// from ReadFrom; its DB must be 0 (a cluster has only database 0). Its DialTimeout
	// also bounds each connection of a refresh, and its Logger is the cluster backend's
	// logger too (named "cluster").
	Redis redis.Config
	// AddrMap translates the addresses nodes announce ("host:port", as CLUSTER SHARDS,
	// CLUSTER SLOTS, -MOVED and -ASK give them) to the addresses to dial. An address
	// that is not in the map is dialled as announced. Use it when nodes announce
	// addresses the proxy cannot reach (NAT, containers, cloud load balancers).
	AddrMap map[string]string
	// Allow lists the addresses (after AddrMap) the backend may dial: "host:port" for
	// one, "host:*" for any port of a host. Empty: any. A node outside the list is never
	// dialled: the backend logs it once at Warn level, and the commands for its slots
	// fail at once with backend.ErrUnavailable (the node is named to the log, not to the
	// client). Seeds are not checked.
	Allow []string
	// ReadFrom says where read-only commands go: [Primary] (default) or [Replica].
	ReadFrom ReadFrom
	// MaxRedirects bounds the -MOVED and -ASK redirections followed for one command
	// (default 5; negative: none are followed). A redirection after the last one allowed
	// is answered -TRYAGAIN backend slot moving (see the package doc).
	MaxRedirects int
	// RefreshInterval is how often the slot map is read again from the cluster when
	// nothing asks for it sooner (default 5s). A -MOVED reply, a node connection that
	// fails, and the replies -CLUSTERDOWN, -TRYAGAIN, -LOADING, -READONLY and -MASTERDOWN
	// ask for a refresh at once.
	RefreshInterval time.Duration
	// MinRefreshInterval is the least time between two refreshes (default 100ms): a
	// burst of failures makes one refresh, not one each. After refreshes that reached no
	// node, the wait doubles, up to RefreshInterval, until one succeeds.
	MinRefreshInterval time.Duration
	// RefreshTimeout bounds one attempt to read the topology from one node: connecting,
	// authenticating and the reply (default 1s).
	RefreshTimeout time.Duration
}

// config is a validated Config with its defaults.
type config struct {
	Config
	allowHosts map[string]bool // "host:*" entries
	allowAddrs map[string]bool // "host:port" entries
}

// withDefaults validates cfg and fills in its defaults.
func (cfg Config) withDefaults() (config, error) {
	c := config{Config: cfg}
	if len(cfg.Seeds) == 0 {
		return c, errors.New("cluster: Config.Seeds is empty")
	}
	c.Seeds = append([]string(nil), cfg.Seeds...)
	for i, s := range c.Seeds {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return c, fmt.Errorf("cluster: Config.Seeds[%d] %q: %w", i, s, err)
		}
	}
	if cfg.Redis.DB != 0 {
		return c, errors.New("cluster: Config.Redis.DB must be 0: a Redis Cluster has only database 0")
	}
	if cfg.Redis.Addr != "" {
		return c, errors.New("cluster: Config.Redis.Addr must be empty: it is set per node")
	}
	if err := checkRedis(cfg.Redis); err != nil {
		return c, err
	}
	if cfg.ReadFrom > Replica {
		return c, fmt.Errorf("cluster: Config.ReadFrom %d is not a ReadFrom", cfg.ReadFrom)
	}
	c.AddrMap = make(map[string]string, len(cfg.AddrMap))
	for from, to := range cfg.AddrMap {
		for _, a := range []string{from, to} {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return c, fmt.Errorf("cluster: Config.AddrMap %q: %q: %w", from, a, err)
			}
		}
		c.AddrMap[from] = to
	}
	for i, a := range cfg.Allow {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			return c, fmt.Errorf("cluster: Config.Allow[%d] %q: %w", i, a, err)
		}
		if port == "*" {
			if c.allowHosts == nil {
				c.allowHosts = map[string]bool{}
			}
			c.allowHosts[host] = true
			continue
		}
		if c.allowAddrs == nil {
			c.allowAddrs = map[string]bool{}
		}
		c.allowAddrs[net.JoinHostPort(host, port)] = true
	}
	if cfg.MaxRedirects == 0 {
		c.MaxRedirects = DefaultMaxRedirects
	} else if cfg.MaxRedirects < 0 {
		c.MaxRedirects = 0
	}
	for _, f := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"RefreshInterval", &c.RefreshInterval, DefaultRefreshInterval},
		{"MinRefreshInterval", &c.MinRefreshInterval, DefaultMinRefreshInterval},
		{"RefreshTimeout", &c.RefreshTimeout, DefaultRefreshTimeout},
	} {
		if *f.v < 0 {
			return c, fmt.Errorf("cluster: Config.%s is negative", f.name)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if c.MinRefreshInterval > c.RefreshInterval {
		return c, fmt.Errorf("cluster: Config.MinRefreshInterval %v exceeds RefreshInterval %v",
			c.MinRefreshInterval, c.RefreshInterval)
	}
	c.Redis.ReadOnly = cfg.ReadFrom == Replica
	return c, nil
}

// allowed reports whether addr, a dial address, may be dialled.
func (c *config) allowed(addr string) bool {
	if c.allowAddrs == nil && c.allowHosts == nil {
		return true
	}
	if c.allowAddrs[addr] {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	return err == nil && c.allowHosts[host]
}

// dialAddr returns the address to dial for the announced address addr.
func (c *config) dialAddr(announced string) string {
	if to, ok := c.AddrMap[announced]; ok {
		return to
	}
	return announced
}

// checkRedis finds, before any node is dialled, the errors redis.New would report for
// the template: negative fields and backoff bounds in the wrong order.
func checkRedis(r redis.Config) error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"Conns", int64(r.Conns)},
		{"MaxPending", int64(r.MaxPending)},
		{"DialTimeout", int64(r.DialTimeout)},
		{"MinBackoff", int64(r.MinBackoff)},
		{"MaxBackoff", int64(r.MaxBackoff)},
	} {
		if f.v < 0 {
			return fmt.Errorf("cluster: Config.Redis.%s is negative", f.name)
		}
	}
	lo, hi := r.MinBackoff, r.MaxBackoff
	if lo == 0 {
		lo = redis.DefaultMinBackoff
	}
	if hi == 0 {
		hi = redis.DefaultMaxBackoff
	}
	if lo > hi {
		return fmt.Errorf("cluster: Config.Redis.MinBackoff %v exceeds MaxBackoff %v", lo, hi)
	}
	return nil
}
