// Slots: the bound on the calls an AsyncSession's session has in flight
// (WithMaxConcurrency). Every call takes a slot when it starts, whichever
// way the request was reached, and gives it back when it ends; the futures
// and the blocking calls wait in one line, first come first served.

package reqivo

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// slots is the bound of one session: at most max calls hold a slot. A
// nil *slots (a plain Session) bounds nothing and costs nothing.
type slots struct {
	max int

	mu         sync.Mutex // guards the fields below, and the stop of a future in line
	busy       int        // slots held, <= max
	head, tail *waiter    // the line, oldest first
}

// waiter is one place in line: a blocking call, woken on ready, or a
// future, which holds no goroutine while it waits and is started when its
// turn comes.
type waiter struct {
	prev, next *waiter
	queued     bool
	ready      chan struct{} // a blocking call's: closed when it is given the slot
	fut        *Future       // a future's
}

func newSlots(n int) *slots { return &slots{max: n} }

// take gives the call starting under ctx a slot, waiting in line for one
// if none is free. A future's call finds its slot in ctx (see heldSlot).
// It returns s, to give back with leave, or an error of ctx's kind when
// ctx ends first.
func (s *slots) take(ctx context.Context) (*slots, error) {
	if s == nil {
		return nil, nil
	}
	if h, ok := ctx.Value(heldSlotKey{}).(*heldSlot); ok && h.s == s && h.claim() {
		return s, nil
	}
	s.mu.Lock()
	if s.busy < s.max && s.head == nil {
		s.busy++
		s.mu.Unlock()
		return s, nil
	}
	w := &waiter{ready: make(chan struct{})}
	s.pushLocked(w)
	s.mu.Unlock()
	select {
	case <-w.ready:
		return s, nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	given := !w.queued
	if !given {
		s.unlinkLocked(w)
	}
	s.mu.Unlock()
	if given {
		s.leave() // given the slot as ctx ended: pass it on
	}
	return nil, waitEnded(ctx)
}

// waitEnded is the error of a request whose context ended while it waited
// in line.
func waitEnded(ctx context.Context) error {
	return classify(ctx, fmt.Errorf("waiting for a slot: %w", ctx.Err()))
}

// enqueue gives f a slot at once (true: the caller starts it), or puts it
// in line (false): it is started when its turn comes, or resolved with
// its context's error if that ends first.
func (s *slots) enqueue(f *Future) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy < s.max && s.head == nil {
		s.busy++
		return true
	}
	f.w.fut = f
	s.pushLocked(&f.w)
	if f.ctx.Done() != nil {
		// Set under mu: leave reads stop when it takes f out of line.
		a := f.a // f.a is cleared once f resolves
		f.stop = context.AfterFunc(f.ctx, func() { a.cancelQueued(f) })
	}
	return false
}

// dequeue takes f out of line, if it is still there.
func (s *slots) dequeue(f *Future) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !f.w.queued {
		return false
	}
	s.unlinkLocked(&f.w)
	return true
}

// leave gives back a slot: to the first in line, or to the pool.
func (s *slots) leave() {
	if s == nil {
		return
	}
	s.mu.Lock()
	w := s.head
	if w == nil {
		s.busy--
		s.mu.Unlock()
		return
	}
	s.unlinkLocked(w)
	var stop func() bool
	if w.fut != nil {
		stop = w.fut.stop
	}
	s.mu.Unlock()
	if w.fut == nil {
		close(w.ready)
		return
	}
	if stop != nil {
		// If the AfterFunc already started, cancelQueued finds the future
		// out of line and does nothing; the request then fails fast on its
		// done context.
		stop()
	}
	w.fut.a.dispatch(w.fut)
}

// waiting is the length of the line.
func (s *slots) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for w := s.head; w != nil; w = w.next {
		n++
	}
	return n
}

func (s *slots) pushLocked(w *waiter) {
	w.queued = true
	if s.tail == nil {
		s.head = w
	} else {
		s.tail.next, w.prev = w, s.tail
	}
	s.tail = w
}

func (s *slots) unlinkLocked(w *waiter) {
	if w.prev == nil {
		s.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		s.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next, w.queued = nil, nil, false
}

// heldSlot is a slot taken for a future before its request runs, handed
// to the request's call through its context. The call claims it once; a
// slot nobody claimed (the request was refused before its call began) is
// given back by the future.
type heldSlot struct {
	s     *slots
	state atomic.Int32 // 0 held, 1 claimed by a call, 2 given back
}

type heldSlotKey struct{}

// slotContext is a future's context with its slot: context.WithValue
// without an allocation of its own.
type slotContext struct {
	context.Context
	h *heldSlot
}

func (c *slotContext) Value(key any) any {
	if key == (heldSlotKey{}) {
		return c.h
	}
	return c.Context.Value(key)
}

func (h *heldSlot) claim() bool { return h.state.CompareAndSwap(0, 1) }

// unclaimed reports whether no call claimed the slot, which then can no
// longer be.
func (h *heldSlot) unclaimed() bool { return h.state.CompareAndSwap(0, 2) }
