package keyedmutex

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestOneHolderPerKey(t *testing.T) {
	var k Map
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := k.Lock(context.Background(), "vol-1")
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(100 * time.Microsecond)
			inside.Add(-1)
			unlock()
		}()
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Errorf("%d holders of one key at once, want 1", most.Load())
	}
	if n := k.len(); n != 0 {
		t.Errorf("%d keys left after every holder unlocked, want 0", n)
	}
}

func TestKeysAreIndependent(t *testing.T) {
	var k Map
	unlockA, err := k.Lock(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	defer unlockA()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	unlockB, err := k.Lock(ctx, "b")
	if err != nil {
		t.Fatalf("key b waited for key a: %v", err)
	}
	unlockB()
}

func TestWaiterGivesUpWhenItsContextEnds(t *testing.T) {
	var k Map
	unlock, err := k.Lock(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := k.Lock(ctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock of a held key = %v, want the context's deadline", err)
	}
	unlock()
	if n := k.len(); n != 0 {
		t.Errorf("%d keys left after the holder unlocked and the waiter gave up, want 0", n)
	}
	// The key is free again for the next caller.
	unlock, err = k.Lock(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	unlock()
}

// len is the number of keys held or waited for.
func (k *Map) len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.m)
}
