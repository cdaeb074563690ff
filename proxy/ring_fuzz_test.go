package proxy

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/panjf2000/gnet/v2"

	"github.com/redchain/redchain/proxy/resp"
)

// fakeConn is the part of gnet.Conn a Conn uses, writing into a buffer. Any other
// method panics (the embedded interface is nil), which would show a new dependency.
type fakeConn struct {
	gnet.Conn
	out    bytes.Buffer
	closed bool
}

func (f *fakeConn) Write(b []byte) (int, error) { return f.out.Write(b) }
func (f *fakeConn) Fd() int                     { return -1 } // no socket: written through Write
func (f *fakeConn) Writev(bs [][]byte) (int, error) {
	n := 0
	for _, b := range bs {
		m, _ := f.out.Write(b)
		n += m
	}
	return n, nil
}
func (f *fakeConn) OutboundBuffered() int { return 0 }
func (f *fakeConn) Close() error          { f.closed = true; return nil }

// fakeLoop runs what is posted when the test says so: a deterministic event loop.
type fakeLoop struct {
	gnet.EventLoop
	queued []gnet.Runnable
}

func (f *fakeLoop) Execute(_ context.Context, r gnet.Runnable) error {
	f.queued = append(f.queued, r)
	return nil
}

func (f *fakeLoop) runAll() {
	for len(f.queued) > 0 {
		r := f.queued[0]
		f.queued = f.queued[1:]
		_ = r.Run(context.Background())
	}
}

// FuzzRing pipelines commands into a connection whose handler answers them in an order
// the fuzzer picks, some at once and some later, some through Gather; the replies must
// leave in request order, each exactly once.
func FuzzRing(f *testing.F) {
	f.Add([]byte{5, 0, 1, 2, 3, 4})
	f.Add([]byte{40, 9, 200, 3, 17, 0, 0, 1})
	f.Add([]byte{255, 255, 255, 1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		n := int(data[0])%48 + 1
		choices := data[1:]
		pick := func() int {
			if len(choices) == 0 {
				return 0
			}
			c := int(choices[0])
			choices = choices[1:]
			return c
		}
		var waiting []func()
		h := HandlerFunc(func(_ context.Context, w ReplyWriter, req *Request) {
			v := resp.Bulk(append([]byte(nil), req.Args()[1]...))
			switch pick() % 3 {
			case 0: // the fast path
				w.WriteReply(v)
			case 1: // later, in an order the fuzzer picks
				waiting = append(waiting, func() { w.WriteReply(v) })
			case 2: // in two parts, gathered
				parts := Gather(w, 2, func(vs []resp.Value) resp.Value {
					return resp.Bulk(append(append([]byte(nil), vs[0].Str...), vs[1].Str...))
				})
				half := len(v.Str) / 2
				a, b := resp.Bulk(v.Str[:half]), resp.Bulk(v.Str[half:])
				waiting = append(waiting, func() { parts[1].WriteReply(b) }, func() { parts[0].WriteReply(a) })
			}
		})
		srv := New(h, WithMaxInflight(16))
		el := &fakeLoop{}
		gc := &fakeConn{}
		l := &loop{srv: srv, el: el, conns: map[*Conn]struct{}{}}
		c := &Conn{srv: srv, loop: l, ctx: context.Background(), cancel: func() {}}
		c.setWire(gc)
		c.grow()
		var want bytes.Buffer
		for i := 0; i < n; i++ {
			arg := "v" + strconv.Itoa(i)
			c.in = resp.NewCommand("ECHO", arg).AppendTo(c.in)
			want.Write(resp.BulkString(arg).AppendTo(nil))
		}
		c.run()
		for steps := 0; steps < 10*n+10 && (len(waiting) > 0 || len(el.queued) > 0); steps++ {
			if len(waiting) > 0 {
				i := pick() % len(waiting)
				fn := waiting[i]
				waiting = append(waiting[:i], waiting[i+1:]...)
				fn()
			}
			el.runAll()
		}
		if got := gc.out.String(); got != want.String() {
			t.Fatalf("replies out of order or missing:\ngot  %q\nwant %q", got, want.String())
		}
		if c.head != c.tail || l.inflight != 0 {
			t.Fatalf("ring not empty at the end: head %d tail %d inflight %d", c.head, c.tail, l.inflight)
		}
		if len(c.bypassed) != 0 {
			t.Fatalf("%d commands kept as bypassed without a chain", len(c.bypassed))
		}
		if st := srv.Stats(); st.DoubleReplies+st.LateReplies != 0 {
			t.Fatal(fmt.Sprint("unexpected refused replies: ", st))
		}
	})
}
