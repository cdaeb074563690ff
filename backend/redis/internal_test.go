package redis

import (
	"bytes"
	"testing"

	"github.com/redchain/redchain/proxy/resp"
)

func TestRing(t *testing.T) {
	t.Parallel()
	var r ring
	var got []int
	mk := func(i int) callback { return func(resp.Value, error) { got = append(got, i) } }
	next, want := 0, 0
	// Push and pop in uneven steps so that the ring wraps around and grows while wrapped.
	for round := range 50 {
		for range round%7 + 3 {
			r.push(mk(next))
			next++
		}
		for _, f := range r.popN(nil, round%5+1) {
			f(resp.Value{}, nil)
		}
	}
	for _, f := range r.drain() {
		f(resp.Value{}, nil)
	}
	if r.len() != 0 || r.drain() != nil {
		t.Fatalf("ring not empty after drain: %d", r.len())
	}
	for _, i := range got {
		if i != want {
			t.Fatalf("popped %d, want %d", i, want)
		}
		want++
	}
	if want != next {
		t.Fatalf("popped %d callbacks, pushed %d", want, next)
	}
	for i, f := range r.buf {
		if f != nil {
			t.Fatalf("slot %d still holds a callback", i)
		}
	}
}

func TestRoom(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		len, cap   int
		start      int
		need       int
		wantCap    int
		wantLength int
	}{
		{"empty", 0, 0, 0, 0, readSize, 0},
		{"move to front", readSize - 100, readSize, readSize - 200, 0, readSize, 100},
		{"grow when half full", readSize - 100, readSize, 1000, 0, 2 * readSize, readSize - 1100},
		{"grow a big one", 8 << 20, 8 << 20, 0, 0, 16 << 20, 8 << 20},
		{"room for a big reply", readSize, readSize, 100, 3 << 20, readSize - 100 + 3<<20 + minRead, readSize - 100},
		{"a big reply fits once moved", 4 << 20, 4 << 20, 4<<20 - 100, 2 << 20, 4 << 20, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			buf := make([]byte, tc.len, tc.cap)
			for i := range buf {
				buf[i] = byte(i)
			}
			rest := bytes.Clone(buf[tc.start:])
			got := room(buf, tc.start, tc.need)
			if cap(got) != tc.wantCap || len(got) != tc.wantLength || !bytes.Equal(got, rest) {
				t.Fatalf("room: len %d cap %d (same bytes: %v), want len %d cap %d",
					len(got), cap(got), bytes.Equal(got, rest), tc.wantLength, tc.wantCap)
			}
			if free := cap(got) - len(got); free < max(minRead, tc.need) {
				t.Fatalf("room left %d bytes free, want %d", free, max(minRead, tc.need))
			}
		})
	}
}

func TestDrainedShrinks(t *testing.T) {
	t.Parallel()
	var c conn
	buf := make([]byte, 100, 4*maxKeep)
	for range shrinkAfter - 1 {
		buf = c.drained(buf)
	}
	if cap(buf) != 4*maxKeep {
		t.Fatalf("shrank after %d idle reads, want %d", shrinkAfter-1, shrinkAfter)
	}
	buf = c.drained(buf[:2*maxKeep]) // a big read: the count starts again
	for range shrinkAfter - 1 {
		buf = c.drained(buf)
	}
	if cap(buf) != 4*maxKeep {
		t.Fatal("shrank although a big read came by")
	}
	buf = c.drained(buf)
	if cap(buf) != readSize || len(buf) != 0 {
		t.Fatalf("after %d idle reads: len %d cap %d, want 0 and %d", shrinkAfter, len(buf), cap(buf), readSize)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	cfg, err := Config{Addr: "127.0.0.1:1"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	b := &Backend{cfg: cfg}
	for attempt, hi := range []int64{50, 100, 200, 400, 800, 1600, 2000, 2000, 2000} {
		for range 100 {
			d := b.backoff(attempt).Milliseconds()
			if d < hi/2 || d > hi {
				t.Fatalf("backoff(%d) = %dms, want %d..%dms", attempt, d, hi/2, hi)
			}
		}
	}
	if d := b.backoff(1000); d > cfg.MaxBackoff {
		t.Fatalf("backoff(1000) = %v, want at most %v", d, cfg.MaxBackoff)
	}
}

func TestRefuseAllocs(t *testing.T) {
	cmd := resp.NewCommand("GET", "k")
	if allocs := testing.AllocsPerRun(100, func() { refuse(cmd) }); allocs > 0 {
		t.Fatalf("refuse allocates %v times for an ordinary command", allocs)
	}
}

// TestOutq checks that a big owned command is queued as a segment of its own, its bytes
// uncopied, in order between the small commands around it, which are copied, as are a big
// command that is not owned and a small one that is; and that reuse keeps no owned bytes.
func TestOutq(t *testing.T) {
	t.Parallel()
	owned := func(size int, b byte) resp.Command {
		raw := bytes.Repeat([]byte{b}, size)
		return resp.Command{Args: [][]byte{raw}, Raw: raw, Owned: true}
	}
	big := owned(resp.BigFrame, 'b')
	notOwned := big
	notOwned.Owned = false
	small := owned(resp.BigFrame-1, 's')
	ping := resp.NewCommand("PING")
	type write struct {
		b     []byte
		owned bool
	}
	var q outq
	q.add(ping)
	q.add(big)
	q.add(notOwned)
	q.add(small)
	q.add(big)
	var got []write
	q.take(outq{}).writeWith(func(b []byte, owned bool) { got = append(got, write{b, owned}) })
	want := []write{
		{ping.AppendTo(nil), false},
		{big.Raw, true},
		{append(notOwned.AppendTo(nil), small.Raw...), false},
		{big.Raw, true},
	}
	if len(got) != len(want) {
		t.Fatalf("%d writes, want %d", len(got), len(want))
	}
	for i, w := range want {
		if !bytes.Equal(got[i].b, w.b) || got[i].owned != w.owned {
			t.Errorf("write %d: %d bytes, owned %v; want %d bytes, owned %v", i, len(got[i].b), got[i].owned, len(w.b), w.owned)
		}
		if w.owned && &got[i].b[0] != &big.Raw[0] {
			t.Errorf("write %d: the owned command was copied", i)
		}
	}
	if !q.empty() {
		t.Errorf("queue not empty after take")
	}

	q.add(ping)
	q.add(big)
	w := q.take(outq{})
	r := w.reuse()
	if len(r.segs) != 0 || len(r.buf) != 0 || cap(r.buf) == 0 {
		t.Errorf("reuse = %d segments, buffer %d of %d: want the small buffer, emptied", len(r.segs), len(r.buf), cap(r.buf))
	}
	for _, s := range w.segs[:cap(w.segs)] {
		if s.b != nil {
			t.Errorf("reuse left a segment of %d bytes in the list", len(s.b))
		}
	}
}
