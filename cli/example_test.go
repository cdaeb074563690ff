package cli_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"

	"github.com/redchain/redchain/cli"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/router"
)

// A command with the common flags, an embedded Redis and a graceful stop. Here ready
// sends one PING, then cancels the context, which stops the proxy.
func Example() {
	fs := flag.NewFlagSet("example", flag.ContinueOnError)
	var f cli.Flags
	f.Register(fs)
	if err := fs.Parse([]string{"-listen", "127.0.0.1:0"}); err != nil {
		fmt.Println(err)
		return
	}

	app, err := cli.Start(f, io.Discard) // no -upstream: an embedded Redis
	if err != nil {
		fmt.Println(err)
		return
	}
	defer app.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := app.NewServer(proxy.Chain(router.New(app.Backend)))
	err = app.Serve(ctx, srv, func(addr net.Addr) {
		defer cancel()
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			fmt.Println(err)
			return
		}
		defer c.Close()
		fmt.Fprint(c, "PING\r\n")
		line, err := bufio.NewReader(c).ReadString('\n')
		fmt.Printf("%q %v\n", line, err)
	})
	fmt.Println("served:", err)
	// Output:
	// "+PONG\r\n" <nil>
	// served: <nil>
}
