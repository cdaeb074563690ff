package proxytest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
)

// Suite configures Conformance.
type Suite struct {
	// Middleware is the middleware under test. It is put in front of Terminal.
	Middleware proxy.Middleware
	// Terminal returns the handler the middleware is put in front of, for one server of
	// the (sub)test t; it closes what it opens with t.Cleanup. For a real Redis:
	//
	//	func(t testing.TB) proxy.Handler {
	//		b, err := redis.New(redis.Config{Addr: srv.Addr()}) // srv := redistest.Start(t)
	//		if err != nil {
	//			t.Fatal(err)
	//		}
	//		t.Cleanup(func() { b.Close() })
	//		return router.New(b)
	//	}
	//
	// nil keeps a fake that answers ECHO with its argument and any other command +OK.
	Terminal func(t testing.TB) proxy.Handler
	// Mix chooses the kinds of commands the connections send (see Kind; AllKinds for
	// all), and needs a Terminal that answers them. Each connection runs a script drawn
	// from the kinds, the same at every run, in pipelined rounds, on keys and channels
	// of its own. The check is differential: the scripts run first through Terminal
	// alone, as the reference, then through the middleware, and every reply (and every
	// pub/sub message) must equal the reference's, command by command, but for the tag
	// of the run that keys and channels carry. nil sends ECHOs only.
	Mix []Kind
	// Setup are commands every connection sends first (AUTH, say); their replies must not
	// be errors. The fake terminal answers them +OK when they reach it. With a Mix they
	// are sent through the middleware only, not in the reference run (which has no
	// middleware to answer them), and must not change the replies of the script.
	Setup [][]string
	// Options are extra server options.
	Options []proxy.Option
	// AllowErrors accepts error replies (a rate limiter in reject mode); the other
	// replies must still match their commands, in order. With a Mix, once a connection
	// got an error where the reference has none, its keys may differ from the
	// reference's, so its later replies are counted and no longer compared.
	AllowErrors bool
	// Conns and Commands size the load: connections at once, and commands each sends
	// (defaults 8 and 200).
	Conns, Commands int
	// MaxServe is the longest one call of the middleware may take on the event loop
	// (default 200ms, generous so that a busy test machine's scheduling delays do not
	// count): longer means it blocks the loop. With a Terminal, the time of the calls
	// into it counts too.
	MaxServe time.Duration
}

// Conformance checks that s.Middleware keeps the proxy's contracts, as a set of subtests:
// exactly one reply per command, replies in order and the right ones with a synchronous
// and with an asynchronous terminal handler (one whose replies are written later, from
// another goroutine), no call that blocks the event loop, and nothing written or broken
// when clients go away mid-pipeline. Without a Mix, every connection pipelines ECHOs
// (subtests OneReplyInOrderSync, OneReplyInOrderAsync, ClientGoneMidPipeline); with one,
// the connections run the mix's scripts and their replies are compared with the
// reference's (subtests Reference, SameRepliesSync, SameRepliesAsync,
// ClientGoneMidPipeline). A message names the connection, its round, the command, and
// the kind the command belongs to.
func Conformance(t *testing.T, s Suite) {
	if s.Conns <= 0 {
		s.Conns = 8
	}
	if s.Commands <= 0 {
		s.Commands = 200
	}
	if s.MaxServe <= 0 {
		s.MaxServe = 200 * time.Millisecond
	}
	if len(s.Mix) > 0 {
		s.mix(t)
		return
	}
	for _, async := range []bool{false, true} {
		t.Run("OneReplyInOrder"+syncName(async), func(t *testing.T) {
			srv, w := s.start(t, async)
			s.each(t, func(i int) string { return s.pipeline(t, srv.Addr(), i) })
			w.check(t, srv)
		})
	}
	t.Run("ClientGoneMidPipeline", func(t *testing.T) {
		srv, w := s.start(t, true)
		for i := 0; i < s.Conns; i++ {
			c := Dial(t, srv.Addr())
			c.Send(s.Setup...)
			var cmds [][]string
			for j := 0; j < s.Commands; j++ {
				cmds = append(cmds, []string{"ECHO", strconv.Itoa(j)})
			}
			c.Send(cmds...)
			c.Conn().Close()
		}
		// The server must go on serving.
		if msg := s.pipeline(t, srv.Addr(), 0); msg != "" {
			t.Error(msg)
		}
		w.check(t, srv)
	})
}

// mix is Conformance with a Mix: the differential check.
func (s Suite) mix(t *testing.T) {
	if s.Terminal == nil {
		t.Fatal("proxytest: Suite.Mix needs a Terminal that answers its commands")
	}
	base := fmt.Sprintf("%06x", rand.Uint32()&0xffffff) // keys of earlier tests may remain
	runs := 0
	tag := func() string { // one per run, all of one length
		runs++
		return base + string(rune('a'+runs))
	}
	ref := make([]transcript, s.Conns)
	refTag := tag()
	if !t.Run("Reference", func(t *testing.T) {
		srv := NewServer(t, s.Terminal(t), s.Options...)
		s.each(t, func(i int) string {
			var msg string
			ref[i], msg = s.play(t, srv.Addr(), i, refTag, nil)
			return msg
		})
	}) {
		t.Fatal("proxytest: the Terminal alone fails the mix: no reference to compare with")
	}
	for _, async := range []bool{false, true} {
		t.Run("SameReplies"+syncName(async), func(t *testing.T) {
			srv, w := s.start(t, async)
			tag := tag()
			s.each(t, func(i int) string {
				_, msg := s.play(t, srv.Addr(), i, tag, &ref[i])
				return msg
			})
			w.check(t, srv)
		})
	}
	t.Run("ClientGoneMidPipeline", func(t *testing.T) {
		srv, w := s.start(t, true)
		gone := tag()
		for i := 0; i < s.Conns; i++ {
			c := Dial(t, srv.Addr())
			c.Send(s.Setup...)
			for _, r := range newScript(s.Mix, i, s.Commands, gone).rounds {
				c.Send(argsOf(r)...)
			}
			c.Conn().Close()
		}
		// The server must go on serving.
		if _, msg := s.play(t, srv.Addr(), 0, tag(), &ref[0]); msg != "" {
			t.Error(msg)
		}
		w.check(t, srv)
	})
}

func syncName(async bool) string {
	if async {
		return "Async"
	}
	return "Sync"
}

// each runs fn for every connection at once and reports what went wrong.
func (s Suite) each(t *testing.T, fn func(conn int) string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan string, s.Conns)
	for i := 0; i < s.Conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if msg := fn(i); msg != "" {
				errs <- msg
			}
		}()
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
}

// watch wraps the middleware to time each call on the loop.
type watch struct {
	mw      proxy.Middleware
	max     time.Duration
	mu      sync.Mutex
	slowest time.Duration
}

func (w *watch) ServeRESP(ctx context.Context, rw proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	start := time.Now()
	w.mw.ServeRESP(ctx, rw, req, next)
	if d := time.Since(start); d > w.max {
		w.mu.Lock()
		w.slowest = max(w.slowest, d)
		w.mu.Unlock()
	}
}

func (w *watch) ObserveConn(ctx context.Context, c *proxy.Conn) context.Context {
	if o, ok := w.mw.(proxy.ConnObserver); ok {
		return o.ObserveConn(ctx, c)
	}
	return ctx
}

func (w *watch) check(t *testing.T, srv *Server) {
	t.Helper()
	w.mu.Lock()
	slow := w.slowest
	w.mu.Unlock()
	if slow > 0 {
		t.Errorf("a call of the middleware took %v on the event loop (limit %v): it blocks", slow, w.max)
	}
	if st := srv.Stats(); st.DoubleReplies > 0 {
		t.Errorf("%d commands were answered twice", st.DoubleReplies)
	}
}

// echo is the terminal handler when the suite has none.
var echo = proxy.HandlerFunc(func(_ context.Context, rw proxy.ReplyWriter, req *proxy.Request) {
	if req.Is("echo") && len(req.Args()) == 2 {
		rw.WriteReply(resp.Bulk(req.Args()[1]))
		return
	}
	rw.WriteReply(resp.OK)
})

// later makes the terminal handler asynchronous: it hands every other reply over to a
// timer, which writes it 0 to 500µs later from its own goroutine.
var later = proxy.MiddlewareFunc(func(ctx context.Context, rw proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	if rand.IntN(2) == 0 {
		next.ServeRESP(ctx, rw, req)
		return
	}
	next.ServeRESP(ctx, proxy.WriterFunc(func(v resp.Value) bool {
		if !v.IsNoReply() {
			v = v.Clone()
		}
		time.AfterFunc(time.Duration(rand.IntN(500))*time.Microsecond, func() { rw.WriteReply(v) })
		return true
	}), req)
})

// start runs the middleware, watched, in front of the terminal handler, made
// asynchronous if async.
func (s Suite) start(t *testing.T, async bool) (*Server, *watch) {
	w := &watch{mw: s.Middleware, max: s.MaxServe}
	var terminal proxy.Handler = echo
	if s.Terminal != nil {
		terminal = s.Terminal(t)
	}
	mws := []proxy.Middleware{w}
	if async {
		mws = append(mws, later)
	}
	return NewServer(t, proxy.Chain(terminal, mws...), s.Options...), w
}

// setup sends the suite's Setup commands on c and returns what went wrong.
func (s Suite) setup(c *Client, id int) string {
	c.Send(s.Setup...)
	for i, cmd := range s.Setup {
		v, err := c.ReadErr()
		if err != nil || v.IsError() {
			return fmt.Sprintf("conn %d: setup command %d %q: reply %v, error %v", id, i, cmd, v, err)
		}
	}
	return ""
}

// pipeline runs one connection's setup and ECHO pipeline and returns what went wrong.
func (s Suite) pipeline(t *testing.T, addr string, id int) string {
	c := Dial(t, addr)
	if msg := s.setup(c, id); msg != "" {
		return msg
	}
	cmds := make([][]string, s.Commands)
	for i := range cmds {
		cmds[i] = []string{"ECHO", fmt.Sprintf("%d-%d", id, i)}
	}
	c.Send(cmds...)
	for i := range cmds {
		v, err := c.ReadErr()
		if err != nil {
			return fmt.Sprintf("conn %d: reply %d: %v", id, i, err)
		}
		if v.IsError() && s.AllowErrors {
			continue
		}
		if got := string(v.Str); v.Type != resp.TypeBulkString || got != cmds[i][1] {
			return fmt.Sprintf("conn %d: reply %d is %v, want %q: out of order or not its own", id, i, v, cmds[i][1])
		}
	}
	// One more round trip: a second reply to any command above would show up here.
	c.Send([]string{"ECHO", "last"})
	if v, err := c.ReadErr(); err != nil || string(v.Str) != "last" {
		if !(s.AllowErrors && v.IsError()) {
			return fmt.Sprintf("conn %d: after the pipeline got %v (error %v), want \"last\": an extra reply?", id, v, err)
		}
	}
	return ""
}

// transcript is what a script got, normalized (see norm): for each command its replies,
// and for each round the pub/sub messages that came with it.
type transcript struct {
	replies [][]byte
	pushes  [][]byte
}

// play runs the script of connection id, with keys and channels tagged tag, on a new
// connection to addr, and returns its transcript and what went wrong. With a reference
// ref, it sends the suite's Setup first and compares every reply with ref's.
func (s Suite) play(t *testing.T, addr string, id int, tag string, ref *transcript) (transcript, string) {
	var tr transcript
	c := Dial(t, addr)
	if ref != nil {
		if msg := s.setup(c, id); msg != "" {
			return tr, msg
		}
	}
	sc := newScript(s.Mix, id, s.Commands, tag)
	placeholder := []byte(strings.Repeat("#", len(tag)))
	norm := func(v resp.Value, st step) []byte {
		if st.loose && !v.IsError() {
			return []byte{byte(v.Type)}
		}
		if st.unordered && len(v.Elems) > 0 {
			v.Elems = slices.Clone(v.Elems)
			slices.SortFunc(v.Elems, func(a, b resp.Value) int { return bytes.Compare(a.AppendTo(nil), b.AppendTo(nil)) })
		}
		return bytes.ReplaceAll(v.AppendTo(nil), []byte(tag), placeholder)
	}
	diverged := false // an error allowed where the reference has none
	// same compares got with the reference's want, and returns what is wrong.
	same := func(got, want []byte) string {
		if ref == nil || diverged || bytes.Equal(got, want) {
			return ""
		}
		if s.AllowErrors && isError(got) && !isError(want) {
			diverged = true
			return ""
		}
		return fmt.Sprintf("%s, reference %s", show(got), show(want))
	}
	proto := ""
	if sc.resp3 {
		proto = " (RESP3)"
	}
	for ri, round := range sc.rounds {
		c.Send(argsOf(round)...)
		var pushes []byte
		for si, st := range round {
			where := func() string {
				kind := "after the script"
				if st.kind != 0 {
					kind = st.kind.String()
				}
				return fmt.Sprintf("conn %d%s, round %d, command %d (%s) %s", id, proto, ri, si, kind, showArgs(st.args))
			}
			var got []byte
			for f := 0; f < max(st.frames, 1); f++ {
				v, err := c.ReadErr()
				if err != nil {
					return tr, fmt.Sprintf("%s: %v", where(), err)
				}
				if isMessage(v) {
					pushes = append(pushes, norm(v, step{})...)
					f--
					continue
				}
				got = append(got, norm(v, st)...)
				if v.IsError() {
					break // a command refused gets one error, however many frames it asked for
				}
			}
			tr.replies = append(tr.replies, got)
			if ref != nil {
				if msg := same(got, ref.replies[len(tr.replies)-1]); msg != "" {
					return tr, fmt.Sprintf("%s: reply %s", where(), msg)
				}
			}
		}
		tr.pushes = append(tr.pushes, pushes)
		if ref != nil {
			if msg := same(pushes, ref.pushes[ri]); msg != "" {
				return tr, fmt.Sprintf("conn %d%s, round %d: pub/sub messages %s", id, proto, ri, msg)
			}
		}
	}
	return tr, ""
}

// argsOf returns the commands of a round.
func argsOf(round []step) [][]string {
	out := make([][]string, len(round))
	for i, st := range round {
		out[i] = st.args
	}
	return out
}

// isMessage reports whether v is a pub/sub message rather than a reply.
func isMessage(v resp.Value) bool {
	if (v.Type != resp.TypePush && v.Type != resp.TypeArray) || len(v.Elems) == 0 {
		return false
	}
	switch string(v.Elems[0].Str) {
	case "message", "pmessage", "smessage":
		return true
	}
	return false
}

// isError reports whether an encoded reply is an error.
func isError(b []byte) bool {
	return len(b) > 0 && (b[0] == byte(resp.TypeError) || b[0] == byte(resp.TypeBulkError))
}

// maxShown bounds the bytes of a reply or an argument a message shows.
const maxShown = 100

// show quotes b for a message, cut to maxShown bytes.
func show(b []byte) string {
	if len(b) <= maxShown {
		return strconv.Quote(string(b))
	}
	return fmt.Sprintf("%q... (%d bytes)", b[:maxShown], len(b))
}

// showArgs writes a command for a message, long arguments cut.
func showArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = show([]byte(a))
	}
	return strings.Join(out, " ")
}
