package router_test

import (
	"strconv"
	"sync"
	"testing"

	"github.com/redchain/redchain/proxy/proxytest"
)

// TestDeepReply has a script return a reply nested about 8,000 levels deep (Redis stops
// converting the script's table at its Lua stack limit, with an error at the bottom),
// through a proxy of one event loop whose shared server connection also carries other
// clients' pipelined INCRs: the script's client gets exactly the server's reply, and
// every INCR of the others is answered, in order.
func TestDeepReply(t *testing.T) {
	st := newStack(t, nil)
	const script = "local t = {} local c = t for i = 1, 10000 do local x = {} c[1] = x c = x end return t"
	want := proxytest.Dial(t, st.redis.Addr()).Do("EVAL", script, "0").AppendTo(nil)
	if len(want) < 8000*4 {
		t.Fatalf("the server's reply is only %d bytes", len(want))
	}

	const bystanders, incrs = 4, 2000
	var wg sync.WaitGroup
	for b := range bystanders {
		c := proxytest.Dial(t, st.proxy.Addr())
		key := "deep:ctr:" + strconv.Itoa(b)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < incrs; i += 100 {
				var batch [][]string
				for range 100 {
					batch = append(batch, []string{"INCR", key})
				}
				c.Send(batch...)
				for j := range 100 {
					v, err := c.ReadErr()
					if err != nil || reply(v) != ":"+strconv.Itoa(i+j+1)+"\r\n" {
						t.Errorf("%s: INCR %d = %q, %v", key, i+j+1, reply(v), err)
						return
					}
				}
			}
		}()
	}
	c := proxytest.Dial(t, st.proxy.Addr())
	for range 5 {
		if got := c.Do("EVAL", script, "0").AppendTo(nil); string(got) != string(want) {
			t.Fatalf("the deep reply through the proxy differs: %d bytes, want %d", len(got), len(want))
		}
	}
	wg.Wait()
}
