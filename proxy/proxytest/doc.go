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
//     per command, no blocking of the event loop, replies in order, nothing written after
//     the client has gone.
//
// # Threading
//
// Recorder is safe for concurrent use. A Client is for one goroutine at a time. Every
// helper takes a testing.TB and fails the test, with a message, rather than returning an
// error.
package proxytest
