package shard_test

import (
	"fmt"
	"log"

	"github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/backend/shard"
)

// The servers of a twemproxy pool, "distribution: ketama", "hash: fnv1a_64",
// "hash_tag: {}", keep their keys:
//
//	servers:
//	  - 10.0.0.1:6379:1 redis1
//	  - 10.0.0.2:6379:1 redis2
//	  - 10.0.0.3:6379:2 redis3
func Example() {
	b, err := shard.New(shard.Config{
		Servers: []shard.Server{
			{Name: "redis1", Addr: "127.0.0.1:17001"},
			{Name: "redis2", Addr: "127.0.0.1:17002"},
			{Name: "redis3", Addr: "127.0.0.1:17003", Weight: 2},
		},
		Redis: redis.Config{Conns: 1}, // the template of each server's backend
	})
	if err != nil {
		log.Fatal(err) // only an invalid Config fails: servers that are down do not
	}
	defer b.Close()

	for _, k := range []string{"user:1000", "{user:1000}.cart", "hello", "world", "foo"} {
		fmt.Println(k, b.ServerFor([]byte(k)))
	}
	// Output:
	// user:1000 127.0.0.1:17003
	// {user:1000}.cart 127.0.0.1:17003
	// hello 127.0.0.1:17001
	// world 127.0.0.1:17001
	// foo 127.0.0.1:17001
}
