package clusterview_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/redchain/redchain/middleware/clusterview"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, proxytest.LeakOptions()...)
}

// info is a terminal that answers INFO as a standalone server, and ECHO.
var info = proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
	if req.Is("info") {
		w.WriteReply(resp.BulkString("# Server\r\nredis_mode:standalone\r\n\r\n# Cluster\r\ncluster_enabled:0\r\n"))
		return
	}
	w.WriteReply(resp.Bulk(req.Args()[len(req.Args())-1]))
})

// TestView: a tier of a live proxy (this one) and one that never answers: after two
// missed checks the live one serves every slot; the cluster's commands are answered
// as a node's, and INFO says cluster.
func TestView(t *testing.T) {
	t.Parallel()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close() // nothing listens there now
	v, err := clusterview.New(clusterview.Config{Self: "127.0.0.1:7001", Proxies: []string{deadAddr, "127.0.0.1:7001"},
		CheckInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	srv := proxytest.NewServer(t, proxy.Chain(info, v))
	c := proxytest.Dial(t, srv.Addr())

	deadline := time.Now().Add(10 * time.Second)
	for {
		got := c.Do("CLUSTER", "SLOTS").String()
		if strings.Contains(got, "*1\\r\\n*3\\r\\n:0\\r\\n:16383\\r\\n*4\\r\\n$9\\r\\n127.0.0.1\\r\\n:7001") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CLUSTER SLOTS never left the dead proxy out: %s", got)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	for _, tc := range []struct{ cmd, want string }{
		{"CLUSTER NODES", "myself,master - 0 0 1 connected 0-16383"},
		{"CLUSTER INFO", "cluster_state:ok"},
		{"CLUSTER KEYSLOT foo", ":12182"},
		{"CLUSTER MYID", "$40"},
		{"CLUSTER COUNTKEYSINSLOT 1", "-ERR redchain: CLUSTER COUNTKEYSINSLOT is not answered"},
		{"READONLY", "+OK"},
		{"INFO", "redis_mode:cluster"},
		{"INFO", "cluster_enabled:1"},
		{"ECHO hi", "hi"},
	} {
		if got := c.Do(strings.Fields(tc.cmd)...).String(); !strings.Contains(got, tc.want) {
			t.Errorf("%s = %s, want %q in it", tc.cmd, got, tc.want)
		}
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	for _, cfg := range []clusterview.Config{
		{Self: "a:1", Proxies: []string{"b:1"}},
		{Self: "a:1", Proxies: []string{"a:1", "a:1"}},
		{Self: "a", Proxies: []string{"a"}},
		{Self: "a:x", Proxies: []string{"a:x"}},
		{Self: "a:1", Proxies: []string{"a:1"}, CheckInterval: -1},
	} {
		if v, err := clusterview.New(cfg); err == nil {
			v.Close()
			t.Errorf("New(%+v): no error", cfg)
		}
	}
}
