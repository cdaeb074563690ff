// Package reclaim makes the memory of big buffers (Big and more) reusable, and gives it
// back to the system, as soon as their last holder drops them.
//
// Go frees a dropped buffer only at the next garbage collection, which, with a heap of
// 100 MB live, may come only after another 100 MB is allocated: a value of 100 MB set
// and then read through the proxy would be held twice. And the runtime gives freed
// memory back to the system over minutes. So whoever drops a big buffer says so
// (Dropped), and whoever allocates one asks for it (Make): Make first collects what was
// dropped since the last collection began, so that its pages are reused, and a
// collection in the background gives the rest back, spaced so that it costs at most
// about a tenth of one core.
//
// Its functions are safe from any goroutine. Make may block for a garbage collection
// (a few milliseconds with a small heap), only when it allocates a big buffer after one
// was dropped: a cost small next to filling it.
package reclaim
