package fanout_test

import (
	"context"
	"testing"

	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/router/internal/fanout"
)

// quickShards is a sharded backend of 3 shards that answers at once, with ready-made
// raw replies (an MGET of n keys gets n nulls), so that a benchmark measures the
// middleware alone.
type quickShards struct {
	locate  func([]byte) (int, int)
	replies [][]byte // by number of keys
}

func newQuick(locate func([]byte) (int, int)) *quickShards {
	q := &quickShards{locate: locate}
	for n := range 64 {
		v := make([]resp.Value, n)
		for i := range v {
			v[i] = resp.NullBulk
		}
		q.replies = append(q.replies, resp.Array(v...).AppendTo(nil))
	}
	return q
}

func (q *quickShards) Shards() int                  { return 3 }
func (q *quickShards) Locate(key []byte) (int, int) { return q.locate(key) }
func (q *quickShards) Close() error                 { return nil }
func (q *quickShards) Send(_ context.Context, cmd resp.Command, done func(resp.Value, error)) {
	done(resp.Raw(q.replies[len(cmd.Args)-1]), nil)
}
func (q *quickShards) SendShard(ctx context.Context, _ int, cmd resp.Command, done func(resp.Value, error)) {
	q.Send(ctx, cmd, done)
}

// benchmarkServe serves one command through a Fanout over quick shards; a command it
// declines is answered +OK, as if the router sent it.
func benchmarkServe(b *testing.B, locate func([]byte) (int, int), args ...string) {
	fo := fanout.New(newQuick(locate), 0)
	req := proxy.NewRequest(resp.NewCommand(args...))
	c, _ := command.LookupArgs(req.Args())
	ctx := context.Background()
	var w nopWriter
	var l lane
	b.ReportAllocs()
	for b.Loop() {
		if !fo.Serve(ctx, w, req, c, &l) {
			w.WriteReply(resp.OK)
		}
	}
}

// BenchmarkPassThrough: commands that need no splitting, the fast path.
func BenchmarkPassThrough(b *testing.B) {
	b.Run("GET", func(b *testing.B) { benchmarkServe(b, slotLocate(3), "GET", "user:1") })
	b.Run("SET", func(b *testing.B) { benchmarkServe(b, slotLocate(3), "SET", "user:1", "v") })
	b.Run("MGET10-one-slot", func(b *testing.B) {
		benchmarkServe(b, slotLocate(3), "MGET", "{u}0", "{u}1", "{u}2", "{u}3", "{u}4", "{u}5", "{u}6", "{u}7", "{u}8", "{u}9")
	})
}

// BenchmarkSplitMGET splits MGET of 10 keys over 3 shards, sends the parts to fake
// shards that answer at once, and merges: the whole cost of a fan-out but the network.
func BenchmarkSplitMGET(b *testing.B) {
	keys := []string{"MGET"}
	for i := range 10 {
		keys = append(keys, "user:"+string(rune('0'+i)))
	}
	b.Run("3servers", func(b *testing.B) { benchmarkServe(b, serverLocate(3), keys...) })
	b.Run("cluster", func(b *testing.B) { benchmarkServe(b, slotLocate(3), keys...) })
}
