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

// giveBack is told of each dropped buffer of at least bigBuffer bytes (n its capacity,
// the caller having let go of it): once such buffers add up to bigBuffer, memory is
// given back to the system (debug.FreeOSMemory), from a timer, at most once per
// giveBackEvery; what is dropped meanwhile waits for the next time. Any goroutine.
func giveBack(n int) {
	if n < bigBuffer {
		return
	}
	gb.mu.Lock()
	defer gb.mu.Unlock()
	gb.dropped += n
	if gb.dropped < bigBuffer || gb.scheduled {
		return
	}
	gb.scheduled = true
	time.AfterFunc(max(time.Until(gb.last.Add(giveBackEvery)), 0), gb.run)
}

var gb giveBacker

type giveBacker struct {
	mu        sync.Mutex
	dropped   int       // bytes dropped since the last give-back
	scheduled bool      // run is on its way
	last      time.Time // when run last began
}

func (g *giveBacker) run() {
	g.mu.Lock()
	g.dropped, g.scheduled, g.last = 0, false, time.Now()
	g.mu.Unlock()
	debug.FreeOSMemory()
}
