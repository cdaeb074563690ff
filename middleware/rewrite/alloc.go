package rewrite

import "github.com/redchain/redchain/proxy"

// Chunk sizes of a connection's arena. A command whose arguments or prefixed keys need
// more than a quarter of a chunk gets an allocation of its own.
const (
	argsChunk  = 64
	bytesChunk = 1024
)

// arena hands out the memory of rewritten commands: argument slices and key bytes,
// carved from chunks that are never reused. A full chunk is dropped (the garbage
// collector frees it once no command refers to it any more) and a new one is started,
// so that a command stays valid for as long as anything holds it, with about one
// allocation per chunk instead of one per command. Loop-only, one per connection.
type arena struct {
	args  [][]byte
	bytes []byte
}

var arenaKey = proxy.NewConnKey[*arena]()

// arenaOf returns c's arena.
func arenaOf(c *proxy.Conn) *arena {
	a := arenaKey.Get(c)
	if a == nil {
		a = &arena{}
		arenaKey.Set(c, a)
	}
	return a
}

// argSlice returns a slice of n arguments, of capacity n.
func (a *arena) argSlice(n int) [][]byte {
	if n > argsChunk/4 {
		return make([][]byte, n)
	}
	if cap(a.args)-len(a.args) < n {
		a.args = make([][]byte, 0, argsChunk)
	}
	s := a.args[len(a.args) : len(a.args)+n : len(a.args)+n]
	a.args = a.args[:len(a.args)+n]
	return s
}

// byteBuf returns an empty byte slice with room for n bytes; the caller appends at most
// n bytes to it.
func (a *arena) byteBuf(n int) []byte {
	if n > bytesChunk/4 {
		return make([]byte, 0, n)
	}
	if cap(a.bytes)-len(a.bytes) < n {
		a.bytes = make([]byte, 0, bytesChunk)
	}
	s := a.bytes[len(a.bytes) : len(a.bytes) : len(a.bytes)+n]
	a.bytes = a.bytes[:len(a.bytes)+n]
	return s
}
