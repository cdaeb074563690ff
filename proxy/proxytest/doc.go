// Package proxytest helps test handlers and middleware written for package proxy, the
// way net/http/httptest helps with HTTP handlers.
//
//   - NewServer runs a real proxy.Server on a loopback port around any handler, and
//     stops it when the test ends. NewPipeServer runs one that does not listen, and
//     Server.Pipe connects a client to either without a socket (net.Pipe and
//     proxy.Server.ServeConn): the handler gets real connections, with ConnKey, Hold,
//     Post, Push, User and Protocol, in a unit test.
//   - Recorder is a ReplyWriter that keeps what is written to it.
//   - Dial opens a raw client connection that sends commands and reads replies.
//   - Conformance checks that a middleware keeps the proxy's contracts: exactly one reply
//     per command, no blocking of the event loop, replies in order, nothing broken when
//     clients go away. In front of a fake that answers ECHO, or of a real terminal
//     (Suite.Terminal: a router over a real Redis) with a command mix of the author's
//     choosing (Suite.Mix: reads, writes, multi-key, blocking, transactions, pub/sub,
//     large values, RESP3 clients), whose replies must be those of the terminal alone.
//
// # Threading
//
// Recorder is safe for concurrent use. A Client is for one goroutine at a time. Every
// helper takes a testing.TB and fails the test, with a message, rather than returning an
// error.
package proxytest
