// Package clusterview is the middleware that presents a tier of proxies as a Redis
// Cluster: CLUSTER SLOTS, SHARDS, NODES, INFO, MYID and KEYSLOT answer with the proxies
// as the cluster's primaries, the 16384 slots spread evenly over those that are up, so
// that cluster-aware clients (rueidis, go-redis's ClusterClient, Lettuce) spread their
// load over the tier, and never learn the address of a server behind it.
//
// Without it a proxy presents itself as a standalone server (the router refuses CLUSTER
// as a non-cluster Redis does, and INFO says redis_mode:standalone), which every client
// can use as it is; clusterview is for deployments that want client-side spreading over
// several proxy instances.
//
//	v, err := clusterview.New(clusterview.Config{
//		Self:    "10.0.0.1:6380",
//		Proxies: []string{"10.0.0.1:6380", "10.0.0.2:6380", "10.0.0.3:6380"},
//	})
//	defer v.Close()
//	h := proxy.Chain(router.New(b), fo, v) // v first: it answers CLUSTER itself
//
// Every proxy of the tier gets the same Proxies list, so that they agree on the map. Any
// proxy serves any key (each one reaches the whole keyspace through its backend), so a
// client that sends a command to another proxy than the slot's is served all the same:
// no -MOVED is ever given, and two proxies that briefly disagree on the map (one saw a
// peer go away before the other) cost nothing but balance. Each proxy checks the others
// every CheckInterval with a PING on a connection of its own; one that misses two
// checks in a row is left out of the map it gives, and its slots go to the others, until it answers
// again. Clients that refresh their map (on a connection error to the proxy that went
// away, or periodically) then stop using it.
//
// The node IDs are the SHA-1 of each proxy's address: stable across restarts, the same
// on every proxy. READONLY, READWRITE and ASKING are answered +OK. COUNTKEYSINSLOT,
// GETKEYSINSLOT and the commands that change a cluster are refused: the tier's slots are
// not where its keys are.
//
// # Threading
//
// New and Close are for the goroutine that sets the proxy up. ServeRESP is safe for
// concurrent use by every event loop and never blocks: it reads the live proxies from
// an atomic snapshot, which one goroutine of the View's, the checker, replaces after
// each round of checks.
package clusterview
