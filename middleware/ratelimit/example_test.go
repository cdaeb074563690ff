package ratelimit_test

import (
	"context"
	"fmt"
	"log"

	"github.com/redchain/redchain/middleware/ratelimit"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
)

// A limit of one command a second, with a burst of two, for each client IP; PING is free.
// A real proxy puts the limiter after auth: proxy.Chain(router.New(b), auth, lim).
func Example() {
	lim, err := ratelimit.New(ratelimit.Config{
		Rate:  1,
		Burst: 2,
		Per:   ratelimit.IP,
		Cost: func(req *proxy.Request) int {
			if req.Is("ping") {
				return 0
			}
			return 1
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	// A terminal handler standing in for router.New(backend).
	terminal := proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		w.WriteReply(resp.OK)
	})
	h := proxy.Chain(terminal, lim)
	for _, cmd := range [][]string{{"SET", "a", "1"}, {"SET", "b", "2"}, {"SET", "c", "3"}, {"PING"}} {
		rec := &proxytest.Recorder{}
		h.ServeRESP(context.Background(), rec, proxy.NewRequest(resp.NewCommand(cmd...)))
		fmt.Printf("%s: %s\n", cmd[0], rec.Replies()[0].Str)
	}
	// Output:
	// SET: OK
	// SET: OK
	// SET: ERR rate limit exceeded: 1/s burst 2 per ip
	// PING: OK
}
