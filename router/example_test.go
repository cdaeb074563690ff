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
	// The proxy's own commands are answered by the router; those a shared server
	// connection must not carry, refused or given a connection of their own.
	h.ServeRESP(context.Background(), &rec, proxy.NewRequest(resp.NewCommand("CLUSTER", "INFO")))
	h.ServeRESP(context.Background(), &rec, proxy.NewRequest(resp.NewCommand("SHUTDOWN")))
	for _, v := range rec.Replies() {
		fmt.Println(v)
	}
	// Output:
	// "$21\r\nbackend got \"GET\" \"k\"\r\n"
	// "-ERR This instance has cluster support disabled\r\n"
	// "-ERR command 'shutdown' is not allowed through the proxy\r\n"
}
