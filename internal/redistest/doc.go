// Package redistest starts real redis-server processes for tests. It is for tests only:
// nothing outside _test.go files should import it.
//
// [Start] runs redis-server (found on PATH; `make test` installs it) on a free loopback
// port, with persistence off and a private working directory, waits until it answers, and
// registers a cleanup that kills it. Tests can kill and restart the server to exercise
// reconnection, and get a go-redis client to check what a component under test did.
//
// [StartCluster] runs a real Redis Cluster (3 primaries and 3 replicas by default) on free
// loopback ports and waits until every node agrees on it; [Cluster] fails over, kills
// and restarts nodes, and migrates slots whole or step by step (for ASK redirects), each
// waiting, by polling the cluster's own state, until the nodes agree again.
//
// # Threading
//
// A [Server]'s methods are safe for concurrent use: Kill, Restart and Client are
// serialised by a mutex, and Addr never changes, so a test may kill the server from one
// goroutine while others use it. Restart reports failure with t.Fatalf, which must run on
// the test's goroutine: call Restart (and Start) from there.
package redistest
