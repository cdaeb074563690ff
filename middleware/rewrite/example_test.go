package rewrite_test

import (
	"context"
	"fmt"
	"log"

	"github.com/redchain/redchain/middleware/rewrite"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
)

// A namespace with a hidden FLUSHALL, reachable under a secret name. The terminal
// handler stands in for router.New(backend): it shows what it would send.
func Example() {
	rw, err := rewrite.New(rewrite.Config{
		Prefix: "tenant1:",
		Rename: map[string]string{"FLUSHALL": "", "SECRET-FLUSH": "FLUSHALL"},
		Allow:  []string{"flushall"},
	})
	if err != nil {
		log.Fatal(err)
	}
	terminal := proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		fmt.Println("sent:", req.Command())
		if req.Is("keys") {
			w.WriteReply(resp.Array(resp.BulkString("tenant1:a"), resp.BulkString("tenant1:b")))
			return
		}
		w.WriteReply(resp.OK)
	})
	h := proxy.Chain(terminal, rw)
	for _, cmd := range [][]string{
		{"MSET", "a", "1", "b", "2"},
		{"KEYS", "*"},
		{"FLUSHALL"},
		{"SECRET-FLUSH"},
		{"DBSIZE"},
	} {
		var rec proxytest.Recorder
		h.ServeRESP(context.Background(), &rec, proxy.NewRequest(resp.NewCommand(cmd...)))
		fmt.Println("reply:", rec.Replies()[0])
	}
	// Output:
	// sent: "MSET" "tenant1:a" "1" "tenant1:b" "2"
	// reply: "+OK\r\n"
	// sent: "KEYS" "tenant1:*"
	// reply: "*2\r\n$1\r\na\r\n$1\r\nb\r\n"
	// reply: "-ERR unknown command 'FLUSHALL', with args beginning with: \r\n"
	// sent: "FLUSHALL"
	// reply: "+OK\r\n"
	// reply: "-ERR command 'dbsize' is not allowed in a key namespace\r\n"
}
