package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/backend/cluster"
	"github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/router"
)

// A proxy in front of a Redis Cluster: clients that know nothing of clusters (no MOVED,
// no hash slots) talk to it as to one Redis.
func Example() {
	b, err := cluster.New(cluster.Config{
		Seeds: []string{"10.0.0.1:7000", "10.0.0.2:7000"},
		Redis: redis.Config{Password: "secret", DialTimeout: time.Second},
		// The nodes announce private addresses; the proxy reaches them through NAT.
		AddrMap: map[string]string{"172.16.0.1:7000": "10.0.0.1:7000", "172.16.0.2:7000": "10.0.0.2:7000"},
		Allow:   []string{"10.0.0.1:*", "10.0.0.2:*"},
	})
	if err != nil {
		log.Fatal(err) // only an invalid Config fails: a cluster that is down does not
	}
	defer b.Close()
	srv := proxy.New(router.New(b))
	log.Fatal(srv.ListenAndServe("127.0.0.1:6380"))
}

// Locate tells which hash slot a key is in, and Send routes by it. Without a reachable
// cluster (here a seed that refuses connections), commands fail with
// backend.ErrUnavailable while the backend keeps trying in the background.
func Example_locate() {
	b, err := cluster.New(cluster.Config{Seeds: []string{"127.0.0.1:1"}})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	for _, k := range []string{"user:1000", "{user:1000}.cart", "foo"} {
		slot, _ := b.Locate([]byte(k))
		fmt.Println(k, slot)
	}
	errc := make(chan error, 1)
	b.Send(context.Background(), resp.NewCommand("GET", "foo"), func(_ resp.Value, err error) { errc <- err })
	fmt.Println(errors.Is(<-errc, backend.ErrUnavailable))
	// Output:
	// user:1000 1649
	// {user:1000}.cart 1649
	// foo 12182
	// true
}
