package proxy

import (
	"runtime/debug"
	"sync"
	"time"
)

// bigBuffer is the size from which a buffer the proxy drops is worth giving back to
// the system at once: Go's scavenger would keep it resident for minutes.
const bigBuffer = 16 << 20

// giveBackEvery bounds how often memory is given back: each time costs a garbage
// collection.
const giveBackEvery = time.Second

// giveBack is told of n bytes of buffers just dropped (the caller holding them no
// more): from bigBuffer on, memory is given back to the system (debug.FreeOSMemory),
// from a timer, at most once per giveBackEvery; what is dropped meanwhile is given back
// that next time. Any goroutine.
func giveBack(n int) {
	if n < bigBuffer {
		return
	}
	gb.mu.Lock()
	defer gb.mu.Unlock()
	if gb.scheduled {
		return
	}
	gb.scheduled = true
	time.AfterFunc(max(time.Until(gb.last.Add(giveBackEvery)), 0), gb.run)
}

var gb giveBacker

type giveBacker struct {
	mu        sync.Mutex
	scheduled bool      // run is on its way
	last      time.Time // when run last began
}

func (g *giveBacker) run() {
	g.mu.Lock()
	g.scheduled, g.last = false, time.Now()
	g.mu.Unlock()
	debug.FreeOSMemory()
}
