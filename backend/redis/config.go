package redis

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/redchain/redchain/proxy/resp"
)

// Defaults of the Config fields left zero.
const (
	DefaultConns          = 2
	DefaultDialTimeout    = 2 * time.Second
	DefaultCommandTimeout = 10 * time.Second
	DefaultMaxPending     = 65536
	DefaultMinBackoff     = 50 * time.Millisecond
	DefaultMaxBackoff     = 2 * time.Second
	DefaultMaxIdle        = 16
	DefaultWarmIdle       = 2
)

// Config configures a [Backend]. Only Addr is required; a zero field takes its default.
type Config struct {
	// Addr is the server's address, "host:port". Required.
	Addr string
	// Username and Password authenticate each connection with AUTH when either is set:
	// "AUTH password" without a Username, "AUTH username password" with one (Redis 6 ACL).
	Username string
	Password string
	// DB is the database each connection selects with SELECT when it is not 0.
	DB int
	// ReadOnly sends READONLY on each new connection, for reads from a Redis Cluster
	// replica.
	ReadOnly bool
	// Conns is the number of connections to the server (default 2). They are shared by all
	// sessions: a session always uses connection id % Conns. A few pipelined connections
	// carry many clients; more of them spread the load over more of Redis's I/O threads
	// and lengthen no queue when one reply is slow.
	Conns int
	// DialTimeout bounds a connection attempt, the handshake (AUTH, SELECT) included
	// (default 2s).
	DialTimeout time.Duration
	// CommandTimeout is how long commands may wait without the server answering any of
	// them (default 10s; negative: no timeout). A slow server is not a dead one (a long
	// script, a big DEL): on a shared connection, the commands waiting then fail with
	// ErrTimeout (the server has them, and may run them still: a client cannot tell),
	// their replies are dropped in order when they come, and the connection goes on
	// carrying the others'; a health check on a connection of its own (PING, any reply
	// will do, within DialTimeout) takes it down only when the server answers nothing,
	// failing what waits with ErrConnLost. On a dedicated connection a timeout takes the
	// connection down: the client's state on it is in doubt. Commands that block on
	// purpose (BLPOP) go on dedicated connections with timeouts of their own.
	CommandTimeout time.Duration
	// MaxPending bounds the commands waiting for a reply on one connection
	// (default 65536: every client of an event loop shares its connection, up to
	// proxy.DefaultMaxInflight commands each). Beyond it Send fails at once with ErrBusy.
	MaxPending int
	// MinBackoff and MaxBackoff bound the wait between reconnection attempts (defaults
	// 50ms and 2s). The wait starts at MinBackoff, doubles after each failed attempt up to
	// MaxBackoff, and is jittered down by up to half so that connections do not retry in
	// step.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// MaxIdle bounds the dedicated connections (Backend.Dedicate) kept open for reuse
	// once given back, per event loop and protocol (default 16; negative: none kept).
	MaxIdle int
	// WarmIdle is how many dedicated connections are dialled ahead, per event loop
	// and protocol, from the first use of that loop and protocol on, so that a client's
	// first SUBSCRIBE, BLPOP or MULTI does not wait for a dial (default 2; negative:
	// none). It is at most MaxIdle.
	WarmIdle int
	// Logger receives connects, disconnects and their reasons, and reconnection attempts
	// (default: a null logger, so the backend is silent).
	Logger hclog.Logger
}

// withDefaults returns cfg with defaults filled in, or an error if a field is invalid.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Addr == "" {
		return cfg, errors.New("redis: Config.Addr is required")
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return cfg, fmt.Errorf("redis: Config.Addr %q: %w", cfg.Addr, err)
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"DB", int64(cfg.DB)},
		{"Conns", int64(cfg.Conns)},
		{"MaxPending", int64(cfg.MaxPending)},
		{"DialTimeout", int64(cfg.DialTimeout)},
		{"MinBackoff", int64(cfg.MinBackoff)},
		{"MaxBackoff", int64(cfg.MaxBackoff)},
	} {
		if f.v < 0 {
			return cfg, fmt.Errorf("redis: Config.%s is negative", f.name)
		}
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if cfg.Conns == 0 {
		cfg.Conns = DefaultConns
	}
	if cfg.MaxPending == 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.MaxIdle == 0 {
		cfg.MaxIdle = DefaultMaxIdle
	}
	if cfg.WarmIdle == 0 {
		cfg.WarmIdle = DefaultWarmIdle
	}
	cfg.WarmIdle = min(cfg.WarmIdle, cfg.MaxIdle)
	def(&cfg.DialTimeout, DefaultDialTimeout)
	def(&cfg.CommandTimeout, DefaultCommandTimeout)
	def(&cfg.MinBackoff, DefaultMinBackoff)
	def(&cfg.MaxBackoff, DefaultMaxBackoff)
	if cfg.MinBackoff > cfg.MaxBackoff {
		return cfg, fmt.Errorf("redis: Config.MinBackoff %v exceeds MaxBackoff %v", cfg.MinBackoff, cfg.MaxBackoff)
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	return cfg, nil
}

// handshakes returns the commands that open a connection, for RESP2 and for RESP3: AUTH
// (or HELLO 3 with AUTH), SELECT and READONLY.
func handshakes(cfg Config) (h [2][]resp.Command) {
	switch {
	case cfg.Username != "":
		h[0] = append(h[0], resp.NewCommand("AUTH", cfg.Username, cfg.Password))
		h[1] = append(h[1], resp.NewCommand("HELLO", "3", "AUTH", cfg.Username, cfg.Password))
	case cfg.Password != "":
		h[0] = append(h[0], resp.NewCommand("AUTH", cfg.Password))
		h[1] = append(h[1], resp.NewCommand("HELLO", "3", "AUTH", "default", cfg.Password))
	default:
		h[1] = append(h[1], resp.NewCommand("HELLO", "3"))
	}
	if cfg.DB != 0 {
		sel := resp.NewCommand("SELECT", strconv.Itoa(cfg.DB))
		h[0], h[1] = append(h[0], sel), append(h[1], sel)
	}
	if cfg.ReadOnly {
		ro := resp.NewCommand("READONLY")
		h[0], h[1] = append(h[0], ro), append(h[1], ro)
	}
	return h
}
