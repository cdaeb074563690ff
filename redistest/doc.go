// Package redistest starts real Redis servers and clusters for tests, from any module's
// tests: the project's own integration tests use it, and so can a middleware or backend
// written outside this module. It belongs in _test.go files.
//
// [Start] runs redis-server on a free loopback port, with persistence off and a private
// working directory, waits until it answers, and registers a cleanup that kills it. Tests
// can kill and restart the server to exercise reconnection, and get a go-redis client to
// check what a component under test did.
//
// [StartCluster] runs a real Redis Cluster (3 primaries and 3 replicas by default) on free
// loopback ports and waits until every node agrees on it; [Cluster] fails over, kills
// and restarts nodes, and migrates slots whole or step by step (for ASK redirects), each
// waiting, by polling the cluster's own state, until the nodes agree again. Nodes can
// announce ports of their own ([AnnouncePort]), as behind NAT.
//
// # What it needs
//
// redis-server, Redis 7 or later, on PATH or named by the REDISTEST_SERVER environment
// variable ([ServerEnv]). The package installs nothing: when the binary is missing, Start
// and StartCluster fail the test (they never skip it) with a message that says what to
// install. Nothing else is needed: no redis-cli, no network beyond loopback.
//
// # Example
//
//	func TestMyMiddleware(t *testing.T) {
//		srv := redistest.Start(t)
//		b, err := redis.New(redis.Config{Addr: srv.Addr()}) // backend/redis
//		...
//		p := proxytest.NewServer(t, proxy.Chain(router.New(b), myMiddleware))
//		c := proxytest.Dial(t, p.Addr())
//		...
//	}
//
// # Threading
//
// A [Server]'s methods are safe for concurrent use: Kill, Restart and Client are
// serialised by a mutex, and Addr never changes, so a test may kill the server from one
// goroutine while others use it. Restart and the [Cluster] methods that take a
// testing.TB report failure with t.Fatalf, which must run on the test's goroutine: call
// them (and Start) from there.
package redistest
