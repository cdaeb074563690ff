package reclaim

import (
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Big is the size from which a buffer is reclaimed as soon as it is dropped.
const Big = 16 << 20

// spacing is how many times its own cost the background give-back waits after one run
// before the next: it costs at most about 1/(1+spacing) of a core.
const spacing = 10

var (
	dropped   atomic.Uint64 // how many big buffers have been dropped
	collected atomic.Uint64 // of those, how many a finished collection began after
	mu        sync.Mutex    // held for each collection, so that they do not overlap

	bg struct {
		sync.Mutex
		scheduled bool      // a give-back is on its way
		next      time.Time // not before this
	}
)

// Dropped tells that a buffer of n bytes of capacity was just let go of by its holder.
// From Big on, its memory is given back to the system soon after, unless a later Make
// reuses it first. A holder unsure whether it is the last one says so too: the cost is
// a collection that frees nothing.
func Dropped(n int) {
	if n < Big {
		return
	}
	dropped.Add(1)
	bg.Lock()
	defer bg.Unlock()
	if bg.scheduled {
		return
	}
	bg.scheduled = true
	time.AfterFunc(max(time.Until(bg.next), 0), giveBack)
}

// Make returns make([]byte, n, c). From Big on, it first collects the big buffers
// dropped since the last collection began, so that their memory is reused.
func Make(n, c int) []byte {
	if c >= Big && dropped.Load() > collected.Load() {
		collect()
	}
	return make([]byte, n, c)
}

// collect runs a garbage collection unless one that began after the latest drop has
// finished meanwhile.
func collect() {
	mu.Lock()
	defer mu.Unlock()
	if n := dropped.Load(); collected.Load() < n {
		runtime.GC()
		collected.Store(n)
	}
}

// giveBack collects and gives the free memory back to the system, in the background.
func giveBack() {
	bg.Lock()
	bg.scheduled = false
	bg.Unlock()
	start := time.Now()
	mu.Lock()
	n := dropped.Load()
	debug.FreeOSMemory() // a collection, then what is free goes back
	collected.Store(n)
	mu.Unlock()
	end := time.Now()
	bg.Lock()
	bg.next = end.Add(spacing * end.Sub(start))
	bg.Unlock()
}
