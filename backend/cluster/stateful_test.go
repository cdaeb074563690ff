package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/redchain/redchain/backend/cluster"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/redistest"
	"github.com/redchain/redchain/router"
)

// TestStateful runs transactions, blocking commands, sharded pub/sub and SELECT through
// a proxy in front of a real cluster, and moves the slot of a shard channel while a
// client is subscribed to it.
func TestStateful(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t)
	b := newBackend(t, cluster.Config{Seeds: c.Seeds()[:1]})
	srv := proxytest.NewServer(t, router.New(b))
	ctx := context.Background()
	p := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), Protocol: 2, MaxRetries: -1, ReadTimeout: wait})
	t.Cleanup(func() { p.Close() })

	t.Run("login to the server's users on every node", func(t *testing.T) {
		// A client logged in as a user of the primaries is that user on each primary its
		// commands reach, those its connection opens after the login included.
		for _, n := range c.Primaries() {
			direct := n.Client()
			if err := direct.ACLSetUser(ctx, "bob", "on", ">pw", "~x*", "+@all").Err(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { direct.ACLDelUser(context.Background(), "bob") })
		}
		for _, login := range [][]string{{"AUTH", "bob", "pw"}, {"HELLO", "3", "AUTH", "bob", "pw"}} {
			rc := proxytest.Dial(t, srv.Addr())
			if v := rc.Do(login...); v.IsError() {
				t.Fatalf("%q: %s", login, v.Str)
			}
			for i := range b.Shards() {
				key := keyOnShard(t, b, i)
				if v := rc.Do("SET", "x{"+key+"}", "1"); string(v.Str) != "OK" {
					t.Errorf("%q then SET of a key of its own on shard %d = %q, want OK", login, i, v.AppendTo(nil))
				}
				if v := rc.Do("SET", key, "1"); !strings.HasPrefix(string(v.Str), "NOPERM") {
					t.Errorf("%q then SET of another key on shard %d = %q, want NOPERM", login, i, v.AppendTo(nil))
				}
			}
			if v := rc.Do("AUTH", "bob", "wrong"); !strings.HasPrefix(string(v.Str), "WRONGPASS") {
				t.Errorf("a wrong password = %q, want WRONGPASS", v.AppendTo(nil))
			}
			if v := rc.Do("ACL", "WHOAMI"); string(v.Str) != "bob" {
				t.Errorf("%q then a wrong password: ACL WHOAMI = %q, want bob", login, v.AppendTo(nil))
			}
		}
	})

	t.Run("script kill on the busy node", func(t *testing.T) {
		// A script runs on the primary of the last shard, not the first: SCRIPT KILL
		// through the proxy goes to every primary, on connections of their own.
		key := keyOnShard(t, b, b.Shards()-1)
		node := c.PrimaryOf(int(command.Slot([]byte(key))))
		direct := node.Client()
		if err := direct.ConfigSet(ctx, "busy-reply-threshold", "20").Err(); err != nil {
			t.Fatal(err)
		}
		rc := proxytest.Dial(t, srv.Addr())
		rc.Send([]string{"EVAL", "while true do end", "1", key})
		poll(t, wait, func() string {
			if err := direct.Ping(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "BUSY") {
				return fmt.Sprintf("PING on the script's node: %v", err)
			}
			return ""
		})
		if got, err := p.ScriptKill(ctx).Result(); err != nil || got != "OK" {
			t.Fatalf("SCRIPT KILL = %q, %v", got, err)
		}
		if v := rc.Read(); !strings.Contains(string(v.Str), "killed by user") {
			t.Fatalf("the script's reply = %s", v)
		}
		if err := p.ScriptKill(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOTBUSY") {
			t.Fatalf("SCRIPT KILL with no script running: %v", err)
		}
	})

	t.Run("transaction in one slot", func(t *testing.T) {
		cmds, err := p.TxPipelined(ctx, func(pp goredis.Pipeliner) error {
			pp.Set(ctx, "{tx}a", "1", 0)
			pp.Incr(ctx, "{tx}a")
			pp.Get(ctx, "{tx}a")
			return nil
		})
		if err != nil || cmds[2].(*goredis.StringCmd).Val() != "2" {
			t.Fatalf("TxPipelined = %v, %v", cmds, err)
		}
	})

	t.Run("transaction across slots", func(t *testing.T) {
		rc := proxytest.Dial(t, srv.Addr())
		k1, k2 := redistest.KeyInSlot(0), redistest.KeyInSlot(16000)
		for _, step := range [][2]string{
			{"MULTI", "+OK\r\n"},
			{"SET " + k1 + " 1", "+QUEUED\r\n"},
			{"SET " + k2 + " 2", "-CROSSSLOT"},
			{"EXEC", "-EXECABORT"},
			{"GET " + k1, "$-1\r\n"},
			{"MSET " + k1 + " 1 " + k2 + " 2", "-CROSSSLOT"},
		} {
			got := string(rc.Do(strings.Fields(step[0])...).AppendTo(nil))
			if !strings.HasPrefix(got, step[1]) {
				t.Errorf("%s = %q, want %q...", step[0], got, step[1])
			}
		}
	})

	t.Run("watch", func(t *testing.T) {
		other := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), Protocol: 2, ReadTimeout: wait})
		defer other.Close()
		err := p.Watch(ctx, func(tx *goredis.Tx) error {
			if err := other.Set(ctx, "{w}k", "theirs", 0).Err(); err != nil {
				return err
			}
			_, err := tx.TxPipelined(ctx, func(pp goredis.Pipeliner) error {
				pp.Set(ctx, "{w}k", "mine", 0)
				return nil
			})
			return err
		}, "{w}k")
		if !errors.Is(err, goredis.TxFailedErr) {
			t.Fatalf("Watch = %v, want the transaction aborted", err)
		}
	})

	t.Run("blocking", func(t *testing.T) {
		done := make(chan string, 1)
		go func() {
			cl := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), Protocol: 2, ReadTimeout: -1})
			defer cl.Close()
			v, err := cl.BLPop(ctx, 0, "cq").Result()
			done <- fmt.Sprint(v, err)
		}()
		owner := c.PrimaryOf(int(command.Slot([]byte("cq"))))
		poll(t, wait, func() string {
			info := owner.Client().Info(ctx, "clients").Val()
			if !strings.Contains(info, "blocked_clients:1") {
				return "no client blocked on the owner of cq"
			}
			return ""
		})
		if err := p.RPush(ctx, "cq", "x").Err(); err != nil {
			t.Fatal(err)
		}
		if got := <-done; got != "[cq x] <nil>" {
			t.Fatalf("BLPOP = %s", got)
		}
	})

	t.Run("select", func(t *testing.T) {
		rc := proxytest.Dial(t, srv.Addr())
		if got := string(rc.Do("SELECT", "1").AppendTo(nil)); got != "-ERR SELECT is not allowed in cluster mode\r\n" {
			t.Fatalf("SELECT 1 = %q", got)
		}
		if got := string(rc.Do("SET", "sel", "v").AppendTo(nil)); got != "+OK\r\n" {
			t.Fatalf("SET after SELECT = %q", got)
		}
	})

	t.Run("resharding with a shard channel", func(t *testing.T) {
		const ch = "orders"
		slot := int(command.Slot([]byte(ch)))
		rc := proxytest.Dial(t, srv.Addr())
		if got := string(rc.Do("HELLO", "3").AppendTo(nil)); !strings.HasPrefix(got, "%7") {
			t.Fatalf("HELLO 3 = %q", got)
		}
		rc.Send([]string{"SSUBSCRIBE", ch})
		if got, want := string(rc.Read().AppendTo(nil)), ">3\r\n$10\r\nssubscribe\r\n$6\r\norders\r\n:1\r\n"; got != want {
			t.Fatalf("SSUBSCRIBE = %q, want %q", got, want)
		}
		if n := p.SPublish(ctx, ch, "m1").Val(); n != 1 {
			t.Fatalf("SPUBLISH reached %d", n)
		}
		if got, want := string(rc.Read().AppendTo(nil)), ">3\r\n$8\r\nsmessage\r\n$6\r\norders\r\n$2\r\nm1\r\n"; got != want {
			t.Fatalf("message = %q, want %q", got, want)
		}

		// Pipeline commands, move the slot meanwhile, pipeline more.
		const n = 200
		for i := range n / 2 {
			rc.Send([]string{"INCR", "reshard:" + strconv.Itoa(i%7)})
		}
		var to *redistest.ClusterNode
		for _, pr := range c.Primaries() {
			if pr.ID() != c.PrimaryOf(slot).ID() {
				to = pr
				break
			}
		}
		c.MoveSlot(t, slot, to)
		for i := n / 2; i < n; i++ {
			rc.Send([]string{"INCR", "reshard:" + strconv.Itoa(i%7)})
		}
		counts := map[int]int64{}
		pushes := 0
		for replies := 0; replies < n; {
			v := rc.Read()
			raw := string(v.AppendTo(nil))
			if strings.HasPrefix(raw, ">") {
				if want := ">3\r\n$12\r\nsunsubscribe\r\n$6\r\norders\r\n:0\r\n"; raw != want {
					t.Fatalf("push %q, want %q", raw, want)
				}
				pushes++
				continue
			}
			k := replies % 7
			counts[k]++
			if v.Int != counts[k] {
				t.Fatalf("reply %d = %q, want :%d: out of order", replies, raw, counts[k])
			}
			replies++
		}
		if pushes != 1 {
			// The push may come after the replies: read it.
			if got := string(rc.Read().AppendTo(nil)); !strings.HasPrefix(got, ">3\r\n$12\r\nsunsubscribe") {
				t.Fatalf("after the replies: %q, want the sunsubscribe push", got)
			}
		}
		// A fresh SSUBSCRIBE reaches the new owner.
		rc.Send([]string{"SSUBSCRIBE", ch})
		if got, want := string(rc.Read().AppendTo(nil)), ">3\r\n$10\r\nssubscribe\r\n$6\r\norders\r\n:1\r\n"; got != want {
			t.Fatalf("SSUBSCRIBE again = %q, want %q", got, want)
		}
		if n := p.SPublish(ctx, ch, "m2").Val(); n != 1 {
			t.Fatalf("SPUBLISH after the move reached %d", n)
		}
		if got, want := string(rc.Read().AppendTo(nil)), ">3\r\n$8\r\nsmessage\r\n$6\r\norders\r\n$2\r\nm2\r\n"; got != want {
			t.Fatalf("message after the move = %q, want %q", got, want)
		}
	})
}
