package shard

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy/resp"
)

// Server is one Redis server of the shard set.
type Server struct {
	// Name identifies the server on the continuum, as a twemproxy server's name does
	// ("127.0.0.1:6379:1 name"). Empty: the address stands for it, as in twemproxy
	// (the host alone when the port is 11211, for libmemcached's sake). Keep names
	// stable: renaming a server, or moving an unnamed one, moves its keys.
	Name string
	// Addr is the server's address, "host:port". Required.
	Addr string
	// Weight is the server's share of the keys relative to the others (default 1).
	Weight int
}

// Config configures a [Backend].
type Config struct {
	// Servers are the shards, in order: the order decides nothing about placement (the
	// names and weights do), but keyless commands go to Servers[0]. At least one.
	Servers []Server
	// Redis is the template of each server's backend/redis Config; its Addr is set
	// from Server.Addr.
	Redis redis.Config
	// Hash hashes a key (or its hash tag) to a point of the continuum. Default:
	// [FNV1a64], twemproxy's "fnv1a_64". Any other function gives placements of its own.
	Hash func(key []byte) uint32
	// HashTag is the two-character pair that marks a key's hash tag (default "{}", as
	// Redis Cluster and most twemproxy configs). See [Backend.Shard].
	HashTag string
	// NoHashTag disables hash tags: whole keys are hashed, as twemproxy without
	// "hash_tag". (A zero HashTag means the default, so it cannot say "none".)
	NoHashTag bool
}

// Backend sends each command to the server its keys hash to on a ketama continuum, like
// twemproxy's "distribution: ketama". See the package doc.
type Backend struct {
	servers    []Server
	backends   []*redis.Backend
	points     []point // sorted by value
	hash       func([]byte) uint32
	tagOpen    byte
	tagClose   byte
	tagged     bool
	errUnknown resp.Value
}

// point is one point of the continuum: a hash value and the server that owns it.
type point struct {
	value  uint32
	server int
}

var (
	_ backend.Backend        = (*Backend)(nil)
	_ backend.Sharded        = (*Backend)(nil)
	_ backend.StatsReporter  = (*Backend)(nil)
	_ backend.ShardDedicator = (*Backend)(nil)
	_ backend.ShardTunneler  = (*Backend)(nil)
)

// errNoServers is New's error for a Config without servers.
var errNoServers = errors.New("shard: Config.Servers is empty")

// crossShard is the reply to a command whose keys live on different servers.
var crossShard = resp.Error("CROSSSLOT", "Keys in request don't hash to the same shard (redchain shard backend: use hash tags, or split the command)")

// New validates cfg and returns a backend with one backend/redis per server. Like
// redis.New, it returns an error only for an invalid cfg: a server that is down makes
// the commands for it fail with backend.ErrUnavailable until it is back.
func New(cfg Config) (*Backend, error) {
	b, err := newRing(cfg)
	if err != nil {
		return nil, err
	}
	for _, s := range b.servers {
		rc := cfg.Redis
		rc.Addr = s.Addr
		rb, err := redis.New(rc)
		if err != nil {
			_ = b.Close()
			return nil, fmt.Errorf("shard: server %s: %w", s.Addr, err)
		}
		b.backends = append(b.backends, rb)
	}
	return b, nil
}

// newRing validates cfg and returns a Backend with its continuum but no server backends:
// New's first half, which tests use for placements without servers.
func newRing(cfg Config) (*Backend, error) {
	if len(cfg.Servers) == 0 {
		return nil, errNoServers
	}
	b := &Backend{servers: slices.Clone(cfg.Servers), hash: cfg.Hash}
	if b.hash == nil {
		b.hash = FNV1a64
	}
	tag := cfg.HashTag
	if tag == "" {
		tag = "{}"
	}
	if len(tag) != 2 {
		return nil, fmt.Errorf("shard: Config.HashTag %q: want two characters", tag)
	}
	if !cfg.NoHashTag {
		b.tagged, b.tagOpen, b.tagClose = true, tag[0], tag[1]
	}
	names := map[string]bool{}
	addrs := map[string]bool{}
	for i := range b.servers {
		s := &b.servers[i]
		if s.Addr == "" {
			return nil, fmt.Errorf("shard: Servers[%d].Addr is required", i)
		}
		if _, _, err := net.SplitHostPort(s.Addr); err != nil {
			return nil, fmt.Errorf("shard: Servers[%d].Addr %q: %w", i, s.Addr, err)
		}
		switch {
		case s.Weight == 0:
			s.Weight = 1
		case s.Weight < 0:
			return nil, fmt.Errorf("shard: Servers[%d].Weight %d: want 1 or more", i, s.Weight)
		}
		id := ketamaName(*s)
		if names[id] {
			return nil, fmt.Errorf("shard: Servers[%d]: name %q used twice", i, id)
		}
		if addrs[s.Addr] {
			return nil, fmt.Errorf("shard: Servers[%d]: address %q used twice", i, s.Addr)
		}
		names[id], addrs[s.Addr] = true, true
	}
	b.points = continuum(b.servers)
	b.errUnknown = resp.Error("ERR", "redchain shard: unknown command, its keys cannot be found")
	return b, nil
}

// ketamaName is the string a server's points are made from: its name, else its address
// (the host alone for port 11211), as twemproxy's conf_add_server does.
func ketamaName(s Server) string {
	if s.Name != "" {
		return s.Name
	}
	if host, port, err := net.SplitHostPort(s.Addr); err == nil && port == "11211" {
		return host
	}
	return s.Addr
}

// pointsPerServer, as twemproxy's KETAMA_POINTS_PER_SERVER: the points of a server of
// average weight; a server gets 160 × weight / average weight, rounded down to a
// multiple of 4.
const pointsPerServer = 160

// continuum builds the ketama continuum of servers as twemproxy's ketama_update does
// (nc_ketama.c), float32 arithmetic included, so that the same servers give the same
// points: server i gets floor(weight/total × 40 × n) × 4 points, the MD5 digests of
// "name-0", "name-1", ..., each cut into four little-endian uint32 points.
func continuum(servers []Server) []point {
	total := 0
	for _, s := range servers {
		total += s.Weight
	}
	n := float32(len(servers))
	var pts []point
	for i, s := range servers {
		pct := float32(s.Weight) / float32(total)
		// floorf((float)(pct * 160 / 4 * (float)n + 0.0000000001)) * 4
		per := int(math.Floor(float64(float32(float64(pct*pointsPerServer/4*n)+0.0000000001)))) * 4
		name := ketamaName(s)
		for j := range per / 4 {
			d := md5.Sum(fmt.Appendf(nil, "%s-%d", name, j))
			for x := range 4 {
				v := uint32(d[4*x]) | uint32(d[4*x+1])<<8 | uint32(d[4*x+2])<<16 | uint32(d[4*x+3])<<24
				pts = append(pts, point{value: v, server: i})
			}
		}
	}
	// twemproxy sorts with qsort, whose order of equal values is unspecified; ties are
	// rare (a 32-bit collision) and broken here by server index.
	slices.SortFunc(pts, func(a, b point) int {
		if a.value != b.value {
			if a.value < b.value {
				return -1
			}
			return 1
		}
		return a.server - b.server
	})
	return pts
}

// FNV1a64 is twemproxy's "fnv1a_64" hash, the default: FNV-1a with the 64-bit offset
// basis and prime truncated to 32 bits, on 32-bit arithmetic. Like twemproxy on x86 and
// most ARM Linux builds, where char is signed, bytes of 0x80 and above are sign-extended
// before they are mixed in. It does not allocate. Safe from any goroutine.
func FNV1a64(key []byte) uint32 {
	const (
		offset = uint32(0xcbf29ce484222325 & 0xffffffff)
		prime  = uint32(0x100000001b3 & 0xffffffff)
	)
	h := offset
	for _, c := range key {
		h ^= uint32(int32(int8(c)))
		h *= prime
	}
	return h
}

// tag returns the part of key that is hashed: with hash tags on, the bytes between the
// first opening character and the next closing one, when there are any; else key.
func (b *Backend) tag(key []byte) []byte {
	if !b.tagged {
		return key
	}
	for i, c := range key {
		if c != b.tagOpen {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] == b.tagClose {
				if j-i > 1 {
					return key[i+1 : j]
				}
				return key
			}
		}
		return key
	}
	return key
}

// Shard returns the index in Config.Servers of the server that key belongs to: the
// owner of the first point of the continuum at or after the hash of key (or of its hash
// tag), wrapping around, as twemproxy's ketama_dispatch. It does not allocate. Safe from
// any goroutine.
func (b *Backend) Shard(key []byte) int {
	h := b.hash(b.tag(key))
	pts := b.points
	lo, hi := 0, len(pts)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if pts[m].value < h {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(pts) {
		lo = 0
	}
	return pts[lo].server
}

// ServerFor returns the address of the server that key belongs to. Safe from any
// goroutine.
func (b *Backend) ServerFor(key []byte) string {
	return b.servers[b.Shard(key)].Addr
}

// maxInlineKeys is how many key positions Send finds without allocating.
const maxInlineKeys = 16

// Send sends cmd to the server of its keys, passing ctx on (its session and event loop
// keep the order of a client's commands per server). A command without keys goes to the
// first server; one whose keys live on different servers gets a -CROSSSLOT error reply,
// and one not in the command table an -ERR reply, without being sent. Safe from any
// goroutine; it never blocks.
func (b *Backend) Send(ctx context.Context, cmd resp.Command, done func(resp.Value, error)) {
	if len(cmd.Args) == 0 {
		done(resp.Error("ERR", "redchain shard: empty command"), nil)
		return
	}
	c, ok := command.Lookup(cmd.Args[0])
	if !ok {
		done(b.errUnknown, nil)
		return
	}
	var buf [maxInlineKeys]int
	keys := c.Keys(cmd.Args, buf[:0])
	first := 0 // keyless commands go to the first server
	for i, k := range keys {
		s := b.Shard(cmd.Args[k])
		if i == 0 {
			first = s
		} else if s != first {
			done(crossShard, nil)
			return
		}
	}
	if !b.patternsOn(c, cmd.Args, first) {
		done(errSortPattern, nil)
		return
	}
	b.backends[first].Send(ctx, cmd, done)
}

// errSortPattern is the reply to a SORT whose BY or GET patterns may name keys of
// another server than the sorted key's.
var errSortPattern = resp.Error("ERR", "redchain shard: SORT BY and GET patterns must name keys of the sorted key's server: give them its hash tag ({key}:weight_*)")

// patternsOn reports whether the SORT BY and GET patterns of args, if any, name keys of
// server only, as Redis Cluster requires of a slot: a pattern with a '*' must have a
// hash tag without one, which places every key it forms on server.
func (b *Backend) patternsOn(c *command.Info, args [][]byte, server int) bool {
	if c.Patterns != command.PatternSort {
		return true
	}
	var buf [4]int
	for _, i := range c.PatternArgs(args, buf[:0]) {
		p := args[i]
		if bytes.IndexByte(p, '*') < 0 {
			continue // BY nosort, or a pattern that names no key
		}
		t := b.tag(p)
		if len(t) == len(p) || bytes.IndexByte(t, '*') >= 0 || b.Shard(p) != server {
			return false
		}
	}
	return true
}

// Shards returns the number of servers: each is a shard of [backend.Sharded], numbered
// as in Config.Servers. Safe from any goroutine.
func (b *Backend) Shards() int { return len(b.servers) }

// Locate returns the server of key as both its group and its shard: keys of one server
// may travel in one command. It is [Backend.Shard], for backend.Sharded (fan-out
// middleware split multi-key commands by it). It does not allocate. Safe from any
// goroutine.
func (b *Backend) Locate(key []byte) (group, shard int) {
	s := b.Shard(key)
	return s, s
}

// SendShard sends cmd to server i (its index in Config.Servers), whatever its keys, for
// commands about a whole server (KEYS, SCAN, DBSIZE, FLUSHALL), passing ctx on as Send
// does. A server number out of range fails with backend.ErrUnavailable. Safe from any
// goroutine; it never blocks.
func (b *Backend) SendShard(ctx context.Context, i int, cmd resp.Command, done func(resp.Value, error)) {
	if i < 0 || i >= len(b.backends) {
		done(resp.Value{}, fmt.Errorf("shard: server %d of %d: %w", i, len(b.servers), backend.ErrUnavailable))
		return
	}
	b.backends[i].Send(ctx, cmd, done)
}

// DedicateShard lends the session of ctx a connection of its own to server i, for the
// commands a proxy sends to every server on a connection of its own (SCRIPT KILL). See
// backend.ShardDedicator. Safe from any goroutine.
func (b *Backend) DedicateShard(ctx context.Context, i int, push func(resp.Value)) backend.Dedicated {
	if i < 0 || i >= len(b.backends) {
		return backend.Unavailable{}
	}
	return b.backends[i].Dedicate(ctx, nil, push)
}

// TunnelShard gives the session of ctx a stream connection to server i (see
// backend.ShardTunneler): the proxy's router merges a SYNC from every server. Safe from
// any goroutine.
func (b *Backend) TunnelShard(ctx context.Context, i int, recv func([]byte), closed func(error)) backend.Tunnel {
	if i < 0 || i >= len(b.backends) {
		closed(fmt.Errorf("shard: server %d of %d: %w", i, len(b.servers), backend.ErrUnavailable))
		return noTunnel{}
	}
	return b.backends[i].Tunnel(ctx, nil, recv, closed)
}

// noTunnel is the Tunnel given for a server that does not exist: it writes nothing.
type noTunnel struct{}

func (noTunnel) Write(resp.Command) {}
func (noTunnel) Close()             {}

// Close closes every server's backend, waiting for their goroutines, and returns nil
// (backend/redis's Close cannot fail; errors, if any ever come, are joined). Later Sends
// fail with backend.ErrClosed. It must not be called from a callback of this backend.
func (b *Backend) Close() error {
	var errs []error
	for _, rb := range b.backends {
		if err := rb.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Stats returns the sum of the servers' backend stats. Safe from any goroutine.
func (b *Backend) Stats() backend.Stats {
	var st backend.Stats
	for _, rb := range b.backends {
		s := rb.Stats()
		st.Conns += s.Conns
		st.ConnsUp += s.ConnsUp
		st.Waiting += s.Waiting
		st.Reconnects += s.Reconnects
	}
	return st
}
