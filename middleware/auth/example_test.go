package auth_test

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"net"
	"time"

	"github.com/redchain/redchain/middleware/auth"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
)

// Auth in front of a terminal handler (router.New(backend) in a real proxy). alice is a
// static user; other names go to an Authenticator that, like an external service, answers
// 50ms later. The commands pipelined behind each AUTH wait for its answer.
func Example() {
	service := auth.AuthenticatorFunc(func(ctx context.Context, user, password string, done func(bool, error)) {
		time.AfterFunc(50*time.Millisecond, func() { done(user == "bob" && password == "pw", nil) })
	})
	a, err := auth.New(auth.Config{
		Users:         []auth.User{{Name: "alice", Password: "secret"}},
		Authenticator: service,
		Timeout:       time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	whoami := proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		w.WriteReply(resp.SimpleString("you are " + req.Conn().User()))
	})
	srv := proxy.New(proxy.Chain(whoami, a))
	go srv.ListenAndServe("127.0.0.1:0")
	defer srv.Shutdown(context.Background())
	<-srv.Ready()

	conn, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	// One write: inline commands, pipelined.
	fmt.Fprint(conn, "WHOAMI\r\nAUTH alice secret\r\nWHOAMI\r\nAUTH bob wrong\r\nWHOAMI\r\nAUTH bob pw\r\nWHOAMI\r\n")
	r := bufio.NewReader(conn)
	for range 7 {
		line, _ := r.ReadString('\n')
		fmt.Printf("%q\n", line)
	}
	// Output:
	// "-NOAUTH Authentication required.\r\n"
	// "+OK\r\n"
	// "+you are alice\r\n"
	// "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
	// "+you are alice\r\n"
	// "+OK\r\n"
	// "+you are bob\r\n"
}
