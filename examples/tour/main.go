// Command tour is the program of the README's tour: a proxy with one custom middleware.
package main

import (
	"context"
	"log"

	"github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/router"
)

// noFlush refuses FLUSHALL and FLUSHDB, and passes everything else on.
var noFlush = proxy.MiddlewareFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	if req.Is("flushall") || req.Is("flushdb") {
		w.WriteReply(resp.Error("ERR", "flushing is disabled on this proxy"))
		return
	}
	next.ServeRESP(ctx, w, req)
})

func main() {
	b, err := redis.New(redis.Config{Addr: "127.0.0.1:6379"})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	srv := proxy.New(proxy.Chain(router.New(b), noFlush))
	log.Fatal(srv.ListenAndServe("127.0.0.1:6380"))
}
