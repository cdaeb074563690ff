package redis

import "github.com/redchain/redchain/proxy/resp"

// callback is what Send queues for one command: the caller's done.
type callback = func(resp.Value, error)

// ring is a FIFO of callbacks in a circular slice whose length is a power of two. It
// grows when full and keeps its storage, so that a connection in steady state queues and
// pops commands without allocating. The caller bounds its length and locks it.
type ring struct {
	buf  []callback
	head int // index of the oldest element
	n    int // number of elements
}

func (r *ring) len() int { return r.n }

func (r *ring) push(f callback) {
	if r.n == len(r.buf) {
		r.grow()
	}
	r.buf[(r.head+r.n)&(len(r.buf)-1)] = f
	r.n++
}

// popN moves up to k of the oldest callbacks to dst, in order, and returns dst.
func (r *ring) popN(dst []callback, k int) []callback {
	k = min(k, r.n)
	for range k {
		dst = append(dst, r.buf[r.head])
		r.buf[r.head] = nil // let the closure go
		r.head = (r.head + 1) & (len(r.buf) - 1)
	}
	r.n -= k
	return dst
}

// abandon empties the place of every callback but keeps it, so that the replies still
// to come are dropped in order (a nil callback is a dropped reply), and appends the
// callbacks it took to dst, oldest first.
func (r *ring) abandon(dst []callback) []callback {
	for i := range r.n {
		j := (r.head + i) & (len(r.buf) - 1)
		if r.buf[j] != nil {
			dst = append(dst, r.buf[j])
			r.buf[j] = nil
		}
	}
	return dst
}

// drain removes every callback and returns them, oldest first, in a new slice.
func (r *ring) drain() []callback {
	if r.n == 0 {
		return nil
	}
	return r.popN(make([]callback, 0, r.n), r.n)
}

func (r *ring) grow() {
	buf := make([]callback, max(16, 2*len(r.buf)))
	for i := range r.n {
		buf[i] = r.buf[(r.head+i)&(len(r.buf)-1)]
	}
	r.buf, r.head = buf, 0
}
