package proxy

import (
	"errors"
	"sync/atomic"

	"github.com/redchain/redchain/proxy/resp"
)

// ReplyWriter takes the one reply to one command.
//
// WriteReply may be called from any goroutine, once. It copies v (v may point into a
// buffer that its caller reuses as soon as WriteReply returns) and reports whether the
// reply was taken: false for a second reply, for a reply that came after the proxy
// answered the command itself (its reply timeout), or after the connection closed. A
// rejected reply is dropped, and reported through the server's logger unless the
// connection had simply closed.
type ReplyWriter interface {
	WriteReply(v resp.Value) bool
}

// WriterFunc adapts a function to the [ReplyWriter] interface: a middleware that looks
// at or changes a reply before it is written wraps the writer it was given with one.
// The function is called from whatever goroutine writes the reply; it must honour
// WriteReply's contract (copy v if it keeps it; report whether the reply was taken).
type WriterFunc func(v resp.Value) bool

// WriteReply calls f.
func (f WriterFunc) WriteReply(v resp.Value) bool { return f(v) }

// slotWriter is the ReplyWriter of one command in a connection's ring. The slot keeps
// it while the command is in flight and reuses it for the slot's next command once the
// reply was taken. When the proxy answers a command itself (reply timeout), the slot
// gets a new writer, so that the abandoned one can never complete a later command.
type slotWriter struct {
	c    *Conn
	seq  uint64
	done func(resp.Value, error) // bound once: Callback's zero-allocation path
}

func newSlotWriter(c *Conn) *slotWriter {
	w := &slotWriter{c: c}
	w.done = w.callback
	return w
}

func (w *slotWriter) WriteReply(v resp.Value) bool { return w.c.complete(w, v) }

func (w *slotWriter) callback(v resp.Value, err error) {
	if err != nil {
		v = ErrorReply(err)
	}
	w.c.complete(w, v)
}

// ErrorReply is the reply a client gets for a transport error a backend reported:
// "-ERR " and the text of the first error in err's chain with a ClientText method (the
// backend package's errors: "backend timeout", naming no server; the address and the
// cause are for the log), else of err itself.
func ErrorReply(err error) resp.Value {
	var ce interface{ ClientText() string }
	if errors.As(err, &ce) {
		return resp.Error("ERR", ce.ClientText())
	}
	return resp.ErrorFrom(err)
}

// Callback returns a function that writes to w what a backend reports: the reply, or,
// for a transport error, its ErrorReply. It is the bridge between a
// [ReplyWriter] and backend.Backend.Send; for the writers the server hands out it
// allocates nothing.
func Callback(w ReplyWriter) func(resp.Value, error) {
	if sw, ok := w.(*slotWriter); ok {
		return sw.done
	}
	return func(v resp.Value, err error) {
		if err != nil {
			v = ErrorReply(err)
		}
		w.WriteReply(v)
	}
}

// Gather splits one reply into n parts, for a command that is answered by several
// backends. It returns n writers, one per part; when every part has been written, merge
// is called once with the parts in writer order and its result is written to parent.
// merge runs on the goroutine that wrote the last part and must not block. Each part is
// copied when written, so merge may keep what it is given. With n == 0, merge(nil) is
// written at once and Gather returns nil. Each part writer takes one reply like any
// ReplyWriter; a second one is refused.
func Gather(parent ReplyWriter, n int, merge func([]resp.Value) resp.Value) []ReplyWriter {
	if n <= 0 {
		parent.WriteReply(merge(nil))
		return nil
	}
	g := &gather{parent: parent, merge: merge, parts: make([]resp.Value, n), parters: make([]part, n)}
	g.left.Store(int64(n))
	ws := make([]ReplyWriter, n)
	for i := range g.parters {
		g.parters[i] = part{g: g, i: i}
		ws[i] = &g.parters[i]
	}
	return ws
}

type gather struct {
	parent  ReplyWriter
	merge   func([]resp.Value) resp.Value
	parts   []resp.Value
	parters []part
	left    atomic.Int64
}

type part struct {
	g    *gather
	i    int
	once atomic.Bool
}

func (p *part) WriteReply(v resp.Value) bool {
	if p.once.Swap(true) {
		return false
	}
	p.g.parts[p.i] = v.Clone()
	if p.g.left.Add(-1) == 0 {
		p.g.parent.WriteReply(p.g.merge(p.g.parts))
	}
	return true
}

var (
	_ ReplyWriter = (*slotWriter)(nil)
	_ ReplyWriter = (*part)(nil)
)
