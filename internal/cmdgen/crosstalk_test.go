package cmdgen

import (
	"bytes"
	"context"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
)

// fifo is a handler that answers every client's commands in one first-in, first-out
// queue, as a server connection that many clients share matches its replies. PING
// answers its argument (or PONG), REPLCONF ACK nothing, anything else +OK. A lossy fifo
// forgets that REPLCONF ACK gets no reply, as a proxy that sent it over a shared
// connection would: the next reply goes to the REPLCONF's client, and so on down the
// queue.
type fifo struct {
	lossy bool

	mu      sync.Mutex
	waiting []proxy.ReplyWriter
}

func (f *fifo) ServeRESP(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
	args := req.Args()
	var v resp.Value
	switch name := strings.ToLower(string(args[0])); {
	case name == "ping" && len(args) == 2:
		v = resp.BulkString(string(args[1]))
	case name == "ping":
		v = resp.Pong
	case name == "replconf" && len(args) > 1 && strings.EqualFold(string(args[1]), "ack"):
		if !f.lossy {
			w.WriteReply(resp.NoReply)
			return
		}
		f.mu.Lock()
		f.waiting = append(f.waiting, w)
		f.mu.Unlock()
		return
	default:
		v = resp.OK
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waiting = append(f.waiting, w)
	next := f.waiting[0]
	f.waiting = f.waiting[1:]
	next.WriteReply(v)
}

// smallRun is a crosstalk run short enough for a unit test, against srv.
func smallRun(srv *proxytest.Server) Crosstalk {
	return Crosstalk{
		Addr: srv.Addr(), RESP3: -1, Victims: 4, Pings: 200, Batch: 20, Attackers: 2,
		AttackTimeout: 100 * time.Millisecond, Deadline: 5 * time.Second,
	}
}

var fewAttacks = []Attack{
	{{"SET", "k", "v"}}, {{"REPLCONF", "ACK", "0"}}, {{"GET", "k"}},
	{{"REPLCONF", "ACK", "0"}, {"PING"}}, {{"DEL", "k"}},
}

// TestCrosstalkClean: a server that answers each client its own replies passes, and
// every attack is sent.
func TestCrosstalkClean(t *testing.T) {
	srv := proxytest.NewServer(t, &fifo{}, proxy.WithEventLoops(2))
	cfg := smallRun(srv)
	cfg.Fresh = fewAttacks[:2]
	res := CheckCrosstalk(t, cfg, fewAttacks)
	if res.Attacks != len(fewAttacks)+2 || res.Answered != res.Attacks {
		t.Errorf("attacks sent %d, answered %d; want %d, all", res.Attacks, res.Answered, len(fewAttacks)+2)
	}
	for i, n := range res.Pings {
		if n < cfg.Pings {
			t.Errorf("victim %d: %d PINGs answered, want %d or more", i, n, cfg.Pings)
		}
	}
}

// TestCrosstalkDetects: a server that hands one client's replies to another fails the
// run, and the failure says which victim got what.
func TestCrosstalkDetects(t *testing.T) {
	srv := proxytest.NewServer(t, &fifo{lossy: true}, proxy.WithEventLoops(2),
		proxy.WithReplyTimeout(200*time.Millisecond)) // for the command the shift leaves unanswered
	res := RunCrosstalk(smallRun(srv), fewAttacks)
	if len(res.Failures) == 0 {
		t.Fatalf("no failure; result %+v", res)
	}
	victims := 0
	for _, f := range res.Failures {
		if strings.HasPrefix(f, "victim ") && strings.Contains(f, " got ") {
			victims++
		}
	}
	if victims == 0 {
		t.Errorf("no victim saw a reply not its own; failures: %q", res.Failures)
	}
	t.Logf("failures, as expected: %q", res.Failures)
}

// killer answers like a fifo that is not lossy, and closes every other client's
// connection at CLIENT KILL (with kill set), or a victim's at its PING number 100
// (without).
type killer struct {
	fifo
	kill bool

	mu    sync.Mutex
	conns map[*proxy.Conn]bool
}

func (k *killer) ServeRESP(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request) {
	c, args := req.Conn(), req.Args()
	k.mu.Lock()
	k.conns[c] = true
	var victims []*proxy.Conn
	switch {
	case k.kill && len(args) > 1 && strings.EqualFold(string(args[0]), "client") && strings.EqualFold(string(args[1]), "kill"):
		for o := range k.conns {
			if o != c {
				victims = append(victims, o)
			}
		}
		clear(k.conns)
	case !k.kill && len(args) == 2 && string(args[1]) == "v0.100":
		victims = append(victims, c)
	}
	k.mu.Unlock()
	for _, o := range victims {
		_ = o.Close()
	}
	k.fifo.ServeRESP(ctx, w, req)
}

// TestCrosstalkKilled: victims that a CLIENT KILL disconnects connect again and go on;
// a victim disconnected when no CLIENT KILL was sent is a failure.
func TestCrosstalkKilled(t *testing.T) {
	srv := proxytest.NewServer(t, &killer{kill: true, conns: map[*proxy.Conn]bool{}}, proxy.WithEventLoops(2))
	cfg := smallRun(srv)
	attacks := slices.Concat(fewAttacks, []Attack{{{"CLIENT", "KILL", "TYPE", "normal"}}}, fewAttacks)
	res := CheckCrosstalk(t, cfg, attacks)
	if res.Reconnects == 0 {
		t.Errorf("no victim connected again after CLIENT KILL")
	}

	srv = proxytest.NewServer(t, &killer{conns: map[*proxy.Conn]bool{}}, proxy.WithEventLoops(2))
	res = RunCrosstalk(smallRun(srv), fewAttacks)
	if len(res.Failures) != 1 || !strings.Contains(res.Failures[0], "victim 0 (RESP2): the proxy closed its connection, and no CLIENT KILL was sent") {
		t.Errorf("failures %q; want victim 0's connection closed with no CLIENT KILL", res.Failures)
	}
}

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		frame, want string
	}{
		{"$4\r\nv2.7\r\n", "victim 2's reply"},
		{"$4\r\nv1.9\r\n", "a later PING of its own"},
		{"$4\r\nv1.3\r\n", "an earlier PING of its own"},
		{"$4\r\na0.1\r\n", "an attacker's reply"},
		{"+OK\r\n", "another client's command"},
		{"-ERR x\r\n", "an error"},
		{">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n", "a push frame"},
	} {
		if got := describe(1, 5, []byte(tc.frame)); !strings.Contains(got, tc.want) {
			t.Errorf("describe(%q) = %q, want it to say %q", tc.frame, got, tc.want)
		}
	}
}

// TestFrameReader reads frames split across reads and larger than its buffer.
func TestFrameReader(t *testing.T) {
	big := strings.Repeat("x", 200<<10)
	want := [][]byte{
		resp.BulkString("a").AppendTo(nil),
		resp.BulkString(big).AppendTo(nil),
		resp.Array(resp.Integer(1), resp.BulkString("b")).AppendTo(nil),
	}
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	_ = client.SetReadDeadline(time.Now().Add(proxytest.Timeout))
	go func() {
		all := bytes.Join(want, nil)
		for len(all) > 0 {
			n := min(len(all), 7777)
			if _, err := server.Write(all[:n]); err != nil {
				return
			}
			all = all[n:]
		}
	}()
	fr := newFrameReader(client)
	for i, w := range want {
		f, err := fr.next()
		if err != nil || !bytes.Equal(f, w) {
			t.Fatalf("frame %d: %d bytes, %v; want %d bytes", i, len(f), err, len(w))
		}
	}
}
