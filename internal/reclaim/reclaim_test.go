package reclaim

import (
	"runtime"
	"testing"
	"time"
)

// TestMakeReusesDropped: a big buffer dropped is collected before the next big one is
// made, so that its memory is reused rather than more taken from the system.
func TestMakeReusesDropped(t *testing.T) {
	freed := make(chan struct{})
	b := make([]byte, Big)
	runtime.AddCleanup(&b[0], func(ch chan struct{}) { close(ch) }, freed)
	n := cap(b)
	b = nil
	Dropped(n)
	Make(0, Big)
	if got, want := collected.Load(), dropped.Load(); got < want {
		t.Errorf("after Make, collections cover %d drops of %d", got, want)
	}
	select { // the cleanup runs on a goroutine of its own once the collection found b
	case <-freed:
	case <-time.After(10 * time.Second):
		t.Fatal("the dropped buffer was not collected")
	}
}

// TestSmallNotCounted: buffers under Big are left to the garbage collector's pace.
func TestSmallNotCounted(t *testing.T) {
	before := dropped.Load()
	Dropped(Big - 1)
	if dropped.Load() != before {
		t.Error("a buffer under Big was counted")
	}
	if b := Make(3, Big-1); len(b) != 3 || cap(b) != Big-1 {
		t.Errorf("Make(3, Big-1): len %d cap %d", len(b), cap(b))
	}
}
