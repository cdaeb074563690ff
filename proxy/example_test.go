package proxy_test

import (
	"bufio"
	"context"
	"fmt"
	"net"

	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
)

// noFlush refuses FLUSHALL and passes everything else on.
var noFlush = proxy.MiddlewareFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	if req.Is("flushall") {
		w.WriteReply(resp.Error("ERR", "flushing is disabled on this proxy"))
		return
	}
	next.ServeRESP(ctx, w, req)
})

func ExampleChain() {
	served := proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		w.WriteReply(resp.BulkString("served " + string(req.Name())))
	})
	h := proxy.Chain(served, noFlush)

	var rec proxytest.Recorder
	h.ServeRESP(context.Background(), &rec, proxy.NewRequest(resp.NewCommand("GET", "k")))
	h.ServeRESP(context.Background(), &rec, proxy.NewRequest(resp.NewCommand("FLUSHALL")))
	for _, v := range rec.Replies() {
		fmt.Println(v)
	}
	// Output:
	// "$10\r\nserved get\r\n"
	// "-ERR flushing is disabled on this proxy\r\n"
}

func ExampleServer() {
	pong := proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		w.WriteReply(resp.Pong)
	})
	srv := proxy.New(proxy.Chain(pong, noFlush))
	go srv.ListenAndServe("127.0.0.1:0")
	defer srv.Shutdown(context.Background())
	<-srv.Ready()

	conn, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "PING\r\nFLUSHALL\r\n") // two inline commands, pipelined
	r := bufio.NewReader(conn)
	for range 2 {
		line, _ := r.ReadString('\n')
		fmt.Printf("%q\n", line)
	}
	// Output:
	// "+PONG\r\n"
	// "-ERR flushing is disabled on this proxy\r\n"
}

func ExampleConn_Hold() {
	// A middleware that answers AUTH after an asynchronous check; commands pipelined
	// behind AUTH wait in the connection's pending queue until release.
	check := func(password string, done func(ok bool)) { go done(password == "secret") }
	authed := proxy.NewConnKey[bool]()
	auth := proxy.MiddlewareFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
		c := req.Conn()
		if req.Is("auth") && len(req.Args()) == 2 {
			release := c.Hold()
			check(string(req.Args()[1]), func(ok bool) {
				c.Post(func() {
					authed.Set(c, ok)
					if ok {
						w.WriteReply(resp.OK)
					} else {
						w.WriteReply(resp.Error("WRONGPASS", "invalid password"))
					}
					release()
				})
			})
			return
		}
		if !authed.Get(c) {
			w.WriteReply(resp.Error("NOAUTH", "Authentication required."))
			return
		}
		next.ServeRESP(ctx, w, req)
	})
	pong := proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		w.WriteReply(resp.Pong)
	})
	srv := proxy.New(proxy.Chain(pong, auth))
	go srv.ListenAndServe("127.0.0.1:0")
	defer srv.Shutdown(context.Background())
	<-srv.Ready()

	conn, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "AUTH secret\r\nPING\r\n") // one write
	r := bufio.NewReader(conn)
	for range 2 {
		line, _ := r.ReadString('\n')
		fmt.Printf("%q\n", line)
	}
	// Output:
	// "+OK\r\n"
	// "+PONG\r\n"
}
