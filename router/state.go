package router

import "github.com/redchain/redchain/proxy"

// Stateful reports whether client connection c is in a state bound to one server
// connection: a transaction, a subscription, a database other than 0. Middleware that
// split commands across shards (fan-out) must then leave them whole. Loop-only.
func Stateful(c *proxy.Conn) bool {
	return false
}
