package proxytest

import (
	"context"
	"net"
	"testing"

	"github.com/redchain/redchain/proxy"
)

// NewPipeServer returns a proxy.Server around h that does not listen: its clients are
// real connections without a socket (Server.Pipe), so a unit test exercises a handler
// with every per-connection feature of a real one (ConnKey, Hold and release, Post,
// Push, User, Protocol, QUIT) and nothing of the network. The server is shut down, and
// the goroutines of its connections waited for, when the test ends.
func NewPipeServer(t testing.TB, h proxy.Handler, opts ...proxy.Option) *Server {
	t.Helper()
	srv := proxy.New(h, opts...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("proxytest: shutdown: %v", err)
		}
	})
	return &Server{Server: srv}
}

// Pipe connects a new client to the server through net.Pipe, without a socket, and
// returns it (proxy.Server.ServeConn serves the other end). It works on a server made
// by NewServer too, next to the clients that dial its address. The connection is closed
// when the test ends.
func (s *Server) Pipe(t testing.TB) *Client {
	t.Helper()
	client, server := net.Pipe()
	if err := s.ServeConn(server); err != nil {
		client.Close()
		t.Fatalf("proxytest: ServeConn: %v", err)
	}
	return NewClient(t, client)
}
