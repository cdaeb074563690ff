package redis_test

import (
	"context"
	"fmt"
	"log"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/proxy/resp"
)

// A proxy creates one Backend per server and sends every client's commands through it,
// with the client's session in the context. This example needs a Redis server on
// localhost:6379, so it is compiled but not run.
func Example() {
	b, err := redis.New(redis.Config{Addr: "localhost:6379", Conns: 4})
	if err != nil {
		log.Fatal(err) // only an invalid Config fails: a server that is down does not
	}
	defer b.Close()

	ctx := backend.WithSession(context.Background(), 42) // once per client connection
	replies := make(chan string, 2)
	done := func(v resp.Value, err error) {
		if err != nil {
			replies <- err.Error() // a transport error: ErrUnavailable, ErrConnLost...
			return
		}
		replies <- v.String() // v is borrowed: use it or Clone it before returning
	}
	// Send does not wait: the two commands are pipelined, and since they share a session
	// Redis runs them in order and the replies come back in order.
	b.Send(ctx, resp.NewCommand("SET", "greeting", "hello"), done)
	b.Send(ctx, resp.NewCommand("GET", "greeting"), done)
	fmt.Println(<-replies)
	fmt.Println(<-replies)
}
