package router_test

import (
	"context"
	"fmt"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/router"
)

func ExampleNew() {
	// A backend that answers by itself; backend/redis would send to a server.
	b := backend.Func(func(_ context.Context, cmd resp.Command, done func(resp.Value, error)) {
		done(resp.BulkString("backend got "+cmd.String()), nil)
	})
	h := router.New(b)

	var rec proxytest.Recorder
	h.ServeRESP(context.Background(), &rec, proxy.NewRequest(resp.NewCommand("GET", "k")))
	h.ServeRESP(context.Background(), &rec, proxy.NewRequest(resp.NewCommand("ECHO", "hi")))
	for _, v := range rec.Replies() {
		fmt.Println(v)
	}
	// Output:
	// "$21\r\nbackend got \"GET\" \"k\"\r\n"
	// "$2\r\nhi\r\n"
}
