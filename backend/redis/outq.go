package redis

import (
	"net"

	"github.com/redchain/redchain/proxy/resp"
)

// outq is what Send queued on a connection and its writer has not taken yet, in order:
// small commands copied into a buffer, and each big command handed over with its bytes
// (resp.Command.Owned) as a segment of its own, so that a value of 100 MB goes to the
// socket from where the client's bytes arrived rather than through a copy.
type outq struct {
	segs []segment // oldest first; buf comes after them
	buf  []byte    // the small commands queued after the last segment
}

// segment is a part of an outq: a buffer of small commands, or a big command's bytes,
// owned, which nothing may write to.
type segment struct {
	b     []byte
	owned bool
}

// add queues cmd: a copy of it unless it is a big one handed over.
func (q *outq) add(cmd resp.Command) {
	if !cmd.Owned || len(cmd.Raw) < resp.BigFrame {
		q.buf = cmd.AppendTo(q.buf)
		return
	}
	if len(q.buf) > 0 {
		// The commands after this one go to a buffer of their own, allocated: a big
		// command is rare and costs more than that anyway.
		q.segs = append(q.segs, segment{b: q.buf})
		q.buf = nil
	}
	q.segs = append(q.segs, segment{b: cmd.Raw, owned: true})
}

// empty reports whether nothing is queued.
func (q *outq) empty() bool { return len(q.segs) == 0 && len(q.buf) == 0 }

// take returns what is queued and leaves the queue empty, with spare's storage (see
// reuse) to fill next.
func (q *outq) take(spare outq) outq {
	w := *q
	*q = spare
	return w
}

// reuse returns the storage of q, written, for a later take: its segment list, emptied,
// and one of its buffers of small commands, unless that grew huge. Owned bytes are
// let go, never reused: they are not the connection's.
func (q outq) reuse() outq {
	buf := q.buf
	for _, s := range q.segs {
		if !s.owned {
			buf = s.b // the first buffer, usually the spare that take gave out
			break
		}
	}
	if cap(buf) > maxKeep {
		buf = nil // a huge command went by: do not keep its buffer
	}
	clear(q.segs)
	return outq{segs: q.segs[:0], buf: buf[:0]}
}

// writeTo writes q to nc: its buffer in one system call, or, with big commands among
// its segments, all of them with writev (net.Buffers), so that their bytes are not
// copied.
func (q outq) writeTo(nc net.Conn) error {
	if len(q.segs) == 0 {
		if len(q.buf) == 0 {
			return nil
		}
		_, err := nc.Write(q.buf)
		return err
	}
	bufs := make(net.Buffers, 0, len(q.segs)+1)
	for _, s := range q.segs {
		bufs = append(bufs, s.b)
	}
	if len(q.buf) > 0 {
		bufs = append(bufs, q.buf)
	}
	_, err := bufs.WriteTo(nc)
	return err
}

// writeWith writes q with a loop connection's write, in order, owned segments handed
// over to go out uncopied as the socket takes them.
func (q outq) writeWith(write func(b []byte, owned bool)) {
	for _, s := range q.segs {
		write(s.b, s.owned)
	}
	if len(q.buf) > 0 {
		write(q.buf, false)
	}
}
