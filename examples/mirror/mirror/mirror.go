package mirror

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
)

// DefaultMaxInflight is Config.MaxInflight when it is 0.
const DefaultMaxInflight = 1024

// Config configures a Mirror.
type Config struct {
	// Shadow is the backend that gets the copies. Required. The Mirror does not close
	// it.
	Shadow backend.Backend
	// MaxInflight bounds the mirrored commands the shadow has not answered yet (default
	// DefaultMaxInflight); beyond it commands are not mirrored (Stats.Dropped).
	MaxInflight int
}

// Stats count what a Mirror did, since it was made.
type Stats struct {
	Sent       uint64 // commands sent to the shadow
	Matched    uint64 // of those, answered by the shadow as by the primary
	Mismatched uint64 // answered otherwise
	Errors     uint64 // failed on the shadow's side (a transport error: down, timeout...)
	Dropped    uint64 // not sent: MaxInflight copies were waiting already
	InFlight   int64  // sent, and not yet answered by the shadow
	// A command whose client went away before its reply is neither matched nor
	// mismatched: the chain need not answer a client that has gone, so there may be
	// no primary's reply to compare with.
}

// Mirror is the middleware. Make one with New; it serves every connection of every chain
// it is part of.
type Mirror struct {
	shadow backend.Backend
	max    int64

	inflight                                 atomic.Int64
	sent, matched, mismatched, errs, dropped atomic.Uint64
}

// New returns a Mirror that sends copies to cfg.Shadow.
func New(cfg Config) (*Mirror, error) {
	if cfg.Shadow == nil {
		return nil, errors.New("mirror: no shadow backend")
	}
	if cfg.MaxInflight < 0 {
		return nil, errors.New("mirror: negative MaxInflight")
	}
	if cfg.MaxInflight == 0 {
		cfg.MaxInflight = DefaultMaxInflight
	}
	return &Mirror{shadow: cfg.Shadow, max: int64(cfg.MaxInflight)}, nil
}

// Stats returns the counters. Safe from any goroutine.
func (m *Mirror) Stats() Stats {
	return Stats{
		Sent:       m.sent.Load(),
		Matched:    m.matched.Load(),
		Mismatched: m.mismatched.Load(),
		Errors:     m.errs.Load(),
		Dropped:    m.dropped.Load(),
		InFlight:   m.inflight.Load(),
	}
}

// ServeRESP passes every command on to next, and sends a copy of those it mirrors to the
// shadow. On the connection's event loop.
func (m *Mirror) ServeRESP(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	st := follow(req)
	if !st.mirrored() || !command.Shareable(req.Args()) {
		next.ServeRESP(ctx, w, req)
		return
	}
	if m.inflight.Add(1) > m.max {
		m.inflight.Add(-1)
		m.dropped.Add(1)
		next.ServeRESP(ctx, w, req)
		return
	}
	m.sent.Add(1)
	p := &pair{m: m}
	// ctx is the connection's: the router put its session and event loop in it, so the
	// shadow keeps this client's copies in order and, when it can, serves them on the
	// client's loop. Send never blocks, and does not keep the command past its return.
	sctx := ctx
	if req.Conn().Protocol() == 3 {
		sctx = backend.WithProtocol(ctx, 3) // replies in the client's protocol, to compare
	}
	m.shadow.Send(sctx, req.Command(), p.shadow)
	next.ServeRESP(ctx, proxy.WriterFunc(func(v resp.Value) bool {
		p.arrive(v, false)
		return w.WriteReply(v)
	}), req)
}

// pair compares the primary's and the shadow's replies to one command, in whichever
// order they come, from whichever goroutines.
type pair struct {
	m      *Mirror
	mu     sync.Mutex
	half   bool   // one reply has come
	first  []byte // its encoding: a copy, for the reply itself is borrowed
	failed bool   // the shadow failed: nothing to compare
}

// shadow is the shadow backend's callback, called once for each Send: it frees the
// command's place under MaxInflight.
func (p *pair) shadow(v resp.Value, err error) {
	if err != nil {
		p.m.errs.Add(1)
	}
	p.arrive(v, err != nil)
	p.m.inflight.Add(-1)
}

// arrive takes one of the two replies (failed: the shadow's, which did not come); the
// second settles the pair.
func (p *pair) arrive(v resp.Value, failed bool) {
	p.mu.Lock()
	if !p.half {
		p.half, p.failed = true, failed
		if !failed {
			p.first = v.AppendTo(nil)
		}
		p.mu.Unlock()
		return
	}
	switch {
	case failed || p.failed:
	case bytes.Equal(p.first, v.AppendTo(nil)):
		p.m.matched.Add(1)
	default:
		p.m.mismatched.Add(1)
	}
	p.mu.Unlock()
}

// connState is what the Mirror follows of a connection.
type connState struct {
	tx         bool // between MULTI and EXEC or DISCARD
	db         bool // a database other than 0 is selected
	subscribed bool // has subscribed, and not RESET since
}

// mirrored reports whether commands of a connection in state s may go to the shadow.
func (s connState) mirrored() bool { return !s.tx && !s.db && !s.subscribed }

var stateKey = proxy.NewConnKey[connState]()

// follow updates the state of req's connection with what req does to it, and returns
// the state req runs in. The command may yet be refused further down the chain (a MULTI
// inside a transaction); the Mirror then errs on the side of mirroring less.
func follow(req *proxy.Request) connState {
	c := req.Conn()
	s := stateKey.Get(c)
	args := req.Args()
	if req.Is("reset") {
		stateKey.Set(c, connState{})
		return s
	}
	info, ok := command.LookupArgs(args)
	if !ok {
		return s
	}
	before := s
	switch info.Resolve(args).Effect {
	case command.EffectMulti:
		s.tx = true
	case command.EffectExec, command.EffectDiscard:
		s.tx = false
	case command.EffectSelect:
		s.db = len(args) > 1 && string(args[1]) != "0"
	case command.EffectSubscribe:
		s.subscribed = true
	}
	if s != before {
		stateKey.Set(c, s)
	}
	return before
}
