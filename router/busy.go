package router

import (
	"bytes"
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
)

// busyScripts makes the servers of a sharded backend busy together, as one Redis is:
// while a script (EVAL, FCALL) has run longer than busy-reply-threshold (lua-time-limit,
// 5 s unless CONFIG SET changes it), Redis refuses every command of every client with
// -BUSY but those flagged allow-busy (SCRIPT KILL, FUNCTION KILL, AUTH, MULTI, DISCARD,
// WATCH...), and an EXEC with EXECABORT, until the script ends or is killed. A server of
// a shard set refuses only the commands sent to it: without this, a client would read
// and write the other servers' keys meanwhile, and a transaction queued there would
// run. The scripts are timed from when they are sent; a client that is waiting for a
// script of its own is not refused (its next commands wait behind it, as in Redis).
//
// Safe from any goroutine; the cost while no script runs is one atomic load.
type busyScripts struct {
	b         backend.Sharded
	threshold atomic.Int64 // nanoseconds
	n         atomic.Int32 // scripts sent and not answered

	mu      sync.Mutex
	running map[*scriptRun]struct{}
}

// scriptRun is a script sent and not answered yet.
type scriptRun struct {
	start    time.Time
	function bool // FCALL: the refusal names FUNCTION KILL
}

// defaultBusyThreshold is Redis's busy-reply-threshold when not configured.
const defaultBusyThreshold = 5 * time.Second

func newBusyScripts(b backend.Sharded) *busyScripts {
	bs := &busyScripts{b: b, running: map[*scriptRun]struct{}{}}
	bs.threshold.Store(int64(defaultBusyThreshold))
	return bs
}

// The refusals of a busy server, word for word.
var (
	errBusyScript   = resp.Error("BUSY", "Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")
	errBusyFunction = resp.Error("BUSY", "Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.")
)

// refusal returns the -BUSY a command of c gets now, or a zero Value: none while no
// script has run past the threshold, nor for allow-busy commands, nor on a backend of
// one server, which answers so itself.
func (bs *busyScripts) refusal(c *command.Info) resp.Value {
	if bs == nil || bs.n.Load() == 0 || c.Flags.Has(command.AllowBusy) || bs.b.Shards() <= 1 {
		return resp.Value{}
	}
	limit := time.Duration(bs.threshold.Load())
	now := time.Now()
	bs.mu.Lock()
	defer bs.mu.Unlock()
	for r := range bs.running {
		if now.Sub(r.start) >= limit {
			if r.function {
				return errBusyFunction
			}
			return errBusyScript
		}
	}
	return resp.Value{}
}

// track returns w for a script of c about to be sent by a client that counts its own
// in own: it runs until w gets its reply. w itself when bs is nil.
func (bs *busyScripts) track(w proxy.ReplyWriter, c *command.Info, own *atomic.Int32) proxy.ReplyWriter {
	if bs == nil {
		return w
	}
	r := &scriptRun{start: time.Now(), function: c.Name == "fcall" || c.Name == "fcall_ro"}
	bs.mu.Lock()
	bs.running[r] = struct{}{}
	bs.mu.Unlock()
	bs.n.Add(1)
	own.Add(1)
	return proxy.WriterFunc(func(v resp.Value) bool {
		bs.mu.Lock()
		delete(bs.running, r)
		bs.mu.Unlock()
		bs.n.Add(-1)
		own.Add(-1)
		return w.WriteReply(v)
	})
}

// refuseBusy answers req, a command of c that a busy server refuses with v, as Redis
// does: in a transaction the refusal fails it, and EXEC ends it with EXECABORT.
func (s *session) refuseBusy(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, c *command.Info, v resp.Value) {
	switch {
	case !s.multi || s.ded == nil:
		w.WriteReply(v)
	case c.Effect == command.EffectExec:
		s.tx = nil
		req.SetCommand(discardCmd)
		abort := resp.Error("EXECABORT", "Transaction discarded because of: "+string(v.Str))
		s.route(ctx, refusalWriter{w: w, v: abort}, req, discardCommand, command.Dedicated)
	default:
		s.fail(ctx, w, req, v)
	}
}

// configSet returns w for CONFIG SET args: once the servers accept it, a new
// busy-reply-threshold (or its old name lua-time-limit) applies here too.
func (bs *busyScripts) configSet(w proxy.ReplyWriter, args [][]byte) proxy.ReplyWriter {
	ms := int64(-1)
	for i := 2; i+1 < len(args); i += 2 {
		if bytes.EqualFold(args[i], []byte("busy-reply-threshold")) || bytes.EqualFold(args[i], []byte("lua-time-limit")) {
			if n, err := strconv.ParseInt(string(args[i+1]), 10, 64); err == nil && n >= 0 {
				ms = n
			}
		}
	}
	if ms < 0 {
		return w
	}
	return proxy.WriterFunc(func(v resp.Value) bool {
		if !v.IsError() {
			bs.threshold.Store(ms * int64(time.Millisecond))
		}
		return w.WriteReply(v)
	})
}
