package proxy_test

import (
	"context"
	"testing"

	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
)

// TestPush checks that pushes take no Seq and go out between replies in the order they
// and the replies were completed, also while an earlier command still waits.
func TestPush(t *testing.T) {
	t.Parallel()
	msg := resp.Value{Type: resp.TypePush, Elems: []resp.Value{resp.BulkString("message"), resp.BulkString("m")}}
	var held proxy.ReplyWriter // the reply of "wait", given by "release"; loop-only
	h := proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		switch {
		case req.Is("pushfirst"): // a push, then the reply
			req.Conn().Push(msg)
			w.WriteReply(resp.OK)
		case req.Is("replyfirst"): // the reply, then a push
			w.WriteReply(resp.OK)
			req.Conn().Push(msg)
		case req.Is("wait"):
			held = w
		case req.Is("release"):
			req.Conn().Push(msg) // before "wait" is answered: may not wait for it
			held.WriteReply(resp.SimpleString("WAITED"))
			w.WriteReply(resp.OK)
		}
	})
	srv := proxytest.NewServer(t, h)
	c := proxytest.Dial(t, srv.Addr())
	c.Send([]string{"PUSHFIRST"}, []string{"REPLYFIRST"}, []string{"WAIT"}, []string{"RELEASE"})
	push := string(msg.AppendTo(nil))
	for i, want := range []string{push, "+OK\r\n", "+OK\r\n", push, push, "+WAITED\r\n", "+OK\r\n"} {
		if got := string(c.Read().AppendTo(nil)); got != want {
			t.Fatalf("frame %d = %q, want %q", i, got, want)
		}
	}
}
