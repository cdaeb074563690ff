package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy/resp"
)

// request is one command on its way: a copy of its arguments, to send it again after a
// redirection, and the caller's callback. Requests are pooled: a steady stream of
// commands allocates none. A request belongs to whoever holds it: the sender, then the
// node backend until it calls onReply, then the refresher while parked.
type request struct {
	b       *Backend
	ctx     context.Context
	done    func(resp.Value, error)
	onReply func(resp.Value, error) // r.reply, bound once

	args [][]byte // the command, pointing into buf
	buf  []byte

	slot      int32 // the keys' slot; -1: none
	keys      int   // how many keys
	script    bool  // runs a script: its errors may look like redirections
	shard     int32 // SendShard's shard; -1: by slot or session
	read      bool  // a read that may go to a replica
	primary   bool  // the replica failed: to the primary
	replica   bool  // the last attempt went to a replica
	redirects int8  // -MOVED and -ASK followed
	tryAgain  int8  // -TRYAGAIN retried
	target    *node // a redirection's node, for the next attempt; nil: by slot
	asking    bool  // send ASKING before the command to target
	sentTo    *node // the node of the last attempt
	// The node that answered a script's -MOVED, parked until a refresh shows whether
	// the slot moved.
	movedFrom *node
}

// Buffers above these sizes are not kept in the pool.
const (
	maxPooledBuf  = 64 << 10
	maxPooledArgs = 1024
)

// requests holds the requests not in use.
var requests sync.Pool

// getRequest takes a request from the pool, or makes one.
func getRequest() *request {
	if r, ok := requests.Get().(*request); ok {
		return r
	}
	r := &request{}
	r.onReply = r.reply
	return r
}

// newRequest takes a request from the pool with a copy of cmd's arguments.
func (b *Backend) newRequest(ctx context.Context, cmd resp.Command, done func(resp.Value, error)) *request {
	r := getRequest()
	r.b, r.ctx, r.done = b, ctx, done
	r.shard = -1
	n := 0
	for _, a := range cmd.Args {
		n += len(a)
	}
	if cap(r.buf) < n {
		r.buf = make([]byte, 0, max(n, 256))
	}
	buf := r.buf[:0]
	args := r.args[:0]
	for _, a := range cmd.Args {
		s := len(buf)
		buf = append(buf, a...)
		args = append(args, buf[s:len(buf):len(buf)])
	}
	r.buf, r.args = buf, args
	return r
}

// finish gives the final reply to the caller and puts r back in the pool.
func (r *request) finish(v resp.Value, err error) {
	done := r.done
	done(v, err)
	r.release()
}

// release clears r and puts it back in the pool.
func (r *request) release() {
	for i := range r.args {
		r.args[i] = nil
	}
	if cap(r.buf) > maxPooledBuf {
		r.buf = nil
	}
	if cap(r.args) > maxPooledArgs {
		r.args = nil
	}
	*r = request{onReply: r.onReply, args: r.args[:0], buf: r.buf[:0]}
	requests.Put(r)
}

// dispatch sends r to the node that should serve it now: a redirection's target, or
// the primary (or a replica) of its slot's shard. It does not touch r after handing it
// on.
func (r *request) dispatch() {
	b := r.b
	if b.closing.Load() {
		r.finish(resp.Value{}, b.errClosed)
		return
	}
	if n := r.target; n != nil {
		r.target, r.replica = nil, false
		r.send(n)
		return
	}
	t := b.topo.Load()
	if t == nil || len(t.shards) == 0 {
		b.askRefresh()
		r.finish(resp.Value{}, b.errNoTopology)
		return
	}
	var sh *shard
	switch {
	case r.slot >= 0:
		i := t.slots[r.slot]
		if i == 0 {
			b.askRefresh()
			r.finish(errNoSlot, nil)
			return
		}
		sh = &t.shards[i-1]
		if from := r.movedFrom; from != nil {
			r.movedFrom = nil
			if sh.primary == from {
				// The slot did not move: the -MOVED was the script's own error, or
				// the refresh does not know of the move yet. Not run again.
				r.finish(errMoving, nil)
				return
			}
		}
	case r.shard >= 0:
		if int(r.shard) >= len(t.shards) {
			r.finish(resp.Value{}, errShardRange)
			return
		}
		sh = &t.shards[r.shard]
	default:
		id, ok := backend.SessionFrom(r.ctx)
		if !ok {
			id = 0
		}
		sh = &t.shards[id%uint64(len(t.shards))]
	}
	n := sh.primary
	r.replica = false
	if r.read && !r.primary && len(sh.replicas) > 0 {
		id, ok := backend.SessionFrom(r.ctx)
		if !ok {
			id = b.rr.Add(1)
		}
		n, r.replica = sh.replicas[id%uint64(len(sh.replicas))], true
	}
	r.send(n)
}

var errShardRange = fmt.Errorf("cluster: shard number out of range: %w", backend.ErrUnavailable)

// send sends r to node n. It does not touch r afterwards.
func (r *request) send(n *node) {
	if n.b == nil {
		r.finish(resp.Value{}, n.refused)
		return
	}
	r.sentTo = n
	cmd := resp.Command{Args: r.args}
	if r.asking {
		r.asking = false
		// ASKING applies to the next command of the connection: both go on the same
		// one, back to back.
		if a, ok := n.b.(askingSender); ok {
			a.SendAsking(r.ctx, cmd, r.onReply)
			return
		}
		n.b.Send(r.ctx, askingCmd, ignore)
	}
	n.b.Send(r.ctx, cmd, r.onReply)
}

// askingSender is a node backend that sends ASKING and a command back to back
// (backend/redis).
type askingSender interface {
	SendAsking(ctx context.Context, cmd resp.Command, done func(resp.Value, error))
}

var askingCmd = resp.NewCommand("ASKING")

// ignore is ASKING's callback: its +OK, or its error, tells nothing the command's own
// reply will not.
func ignore(resp.Value, error) {}

// reply is the node backend's callback for r: it follows redirections, asks for
// refreshes, and gives the caller the final reply.
func (r *request) reply(v resp.Value, err error) {
	b := r.b
	if err != nil {
		unavailable := errors.Is(err, backend.ErrUnavailable)
		if unavailable && r.replica {
			// The replica is not connected: the command was not sent. The primary then.
			r.primary = true
			r.dispatch()
			return
		}
		if unavailable || errors.Is(err, backend.ErrConnLost) || errors.Is(err, backend.ErrTimeout) {
			b.askRefresh()
		}
		r.finish(v, err)
		return
	}
	if v.Type != resp.TypeError {
		r.finish(v, nil)
		return
	}
	msg := errorText(v)
	switch {
	case bytes.HasPrefix(msg, movedPrefix), bytes.HasPrefix(msg, askPrefix):
		ask := msg[0] == 'A'
		slot, addr, ok := parseRedirect(msg)
		if !ok || r.slot < 0 || slot != int(r.slot) {
			// Not a redirection of this command (a keyless command is never
			// redirected; a script's error may look like one): not followed, and not
			// given as it is, as it may name a node.
			r.finish(errMoving, nil)
			return
		}
		if int(r.redirects) >= b.cfg.MaxRedirects || r.script && ask {
			// A script's -ASK cannot be told from its own error reply: not
			// followed, rather than the script running twice.
			if !ask {
				b.askRefresh()
			}
			r.finish(errMoving, nil)
			return
		}
		r.redirects++
		if ask {
			b.counters.ask.Add(1)
		} else {
			b.counters.moved.Add(1)
			b.askRefresh()
		}
		if r.script {
			// Sent again only if the refresh shows that the slot left the node that
			// answered (see dispatch).
			r.movedFrom = r.sentTo
			b.park(r, errMoving)
			return
		}
		n := b.lookup(addr, slot, !ask)
		if n == nil {
			// A node not known yet, or known but not connected (a replica just
			// promoted): wait for the refresh, which connects it, and route again.
			b.park(r, errMoving)
			return
		}
		r.target, r.asking = n, ask
		if ask {
			r.ensureSession()
		}
		r.dispatch()
	case bytes.HasPrefix(msg, tryAgainPrefix):
		if r.keys < 2 || r.script {
			// Redis answers -TRYAGAIN only to a command of several keys during a
			// migration; a script's may be its own.
			r.finish(v, nil)
			return
		}
		b.askRefresh()
		if int(r.tryAgain) >= maxTryAgain {
			r.finish(v, nil)
			return
		}
		r.tryAgain++
		b.counters.tryAgain.Add(1)
		b.park(r, v)
	case bytes.HasPrefix(msg, clusterDownPrefix), bytes.HasPrefix(msg, loadingPrefix),
		bytes.HasPrefix(msg, readOnlyPrefix), bytes.HasPrefix(msg, masterDownPrefix):
		b.askRefresh()
		if r.replica && !bytes.HasPrefix(msg, clusterDownPrefix) {
			// A replica still loading, or cut off from its primary: the primary then.
			r.primary = true
			r.dispatch()
			return
		}
		r.finish(v, nil)
	default:
		r.finish(v, nil)
	}
}

// ensureSession gives r a session of its own when its context has neither a session
// nor an event loop, so that ASKING and the command travel on one connection.
func (r *request) ensureSession() {
	if _, ok := backend.SessionFrom(r.ctx); ok {
		return
	}
	if _, ok := backend.LoopFrom(r.ctx); ok {
		return
	}
	r.ctx = backend.WithSession(r.ctx, r.b.rr.Add(1))
}

// Error prefixes the backend acts on.
var (
	movedPrefix       = []byte("MOVED ")
	askPrefix         = []byte("ASK ")
	tryAgainPrefix    = []byte("TRYAGAIN")
	clusterDownPrefix = []byte("CLUSTERDOWN")
	loadingPrefix     = []byte("LOADING")
	readOnlyPrefix    = []byte("READONLY")
	masterDownPrefix  = []byte("MASTERDOWN")
)

// errorText returns the text of an error reply, without '-' and CRLF.
func errorText(v resp.Value) []byte {
	if v.Raw != nil {
		t := v.Raw
		if len(t) > 0 && t[0] == '-' {
			t = t[1:]
		}
		return bytes.TrimRight(t, "\r\n")
	}
	return v.Str
}

// parseRedirect reads "MOVED 3999 127.0.0.1:6381" or "ASK ...": the slot and the
// announced address, which must be all there is, as Redis writes it.
func parseRedirect(msg []byte) (slot int, addr []byte, ok bool) {
	_, rest, _ := bytes.Cut(msg, []byte(" "))
	s, addr, found := bytes.Cut(rest, []byte(" "))
	if !found || len(addr) == 0 || bytes.IndexByte(addr, ' ') >= 0 || bytes.LastIndexByte(addr, ':') < 0 {
		return 0, nil, false
	}
	if len(s) == 0 || len(s) > 5 {
		return 0, nil, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, nil, false
		}
		slot = slot*10 + int(c-'0')
	}
	if slot >= command.SlotCount {
		return 0, nil, false
	}
	return slot, addr, true
}
