package poll

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// echo is a Fetch that knows every key except "missing" and fails "bad".
func echo(calls *atomic.Int32, got *[][]string, mu *sync.Mutex) func(context.Context, []string) (map[string]string, map[string]error) {
	return func(_ context.Context, keys []string) (map[string]string, map[string]error) {
		calls.Add(1)
		mu.Lock()
		*got = append(*got, slices.Clone(keys))
		mu.Unlock()
		res, errs := map[string]string{}, map[string]error{}
		for _, k := range keys {
			switch k {
			case "missing":
			case "bad":
				errs[k] = errors.New("bad key")
			default:
				res[k] = "v-" + k
			}
		}
		return res, errs
	}
}

func TestConcurrentCallersShareOneFetch(t *testing.T) {
	var calls atomic.Int32
	var mu sync.Mutex
	var got [][]string
	c := &Coalescer[string]{Window: 50 * time.Millisecond, Timeout: time.Second, Fetch: echo(&calls, &got, &mu)}
	var wg sync.WaitGroup
	results := make([][]string, 20)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys := []string{"a", "shared", string(rune('b' + i))}
			res, errs, err := c.Do(context.Background(), keys)
			if err != nil {
				t.Error(err)
				return
			}
			vs, err := Pick(keys, res, errs)
			if err != nil {
				t.Error(err)
			}
			results[i] = vs
		}()
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1 for callers within one window", n)
	}
	if keys := got[0]; len(keys) != 22 || keys[0] != "a" || keys[1] != "shared" {
		t.Errorf("fetched keys %v: want each key once, in first-asked order", keys)
	}
	for i, vs := range results {
		want := []string{"v-a", "v-shared", "v-" + string(rune('b'+i))}
		if !slices.Equal(vs, want) {
			t.Errorf("caller %d got %v, want %v", i, vs, want)
		}
	}
}

func TestLaterCallersGetANewBatch(t *testing.T) {
	var calls atomic.Int32
	var mu sync.Mutex
	var got [][]string
	c := &Coalescer[string]{Window: time.Millisecond, Fetch: echo(&calls, &got, &mu)}
	for range 3 {
		if _, _, err := c.Do(context.Background(), []string{"a"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("fetches = %d, want one per sequential call", n)
	}
}

func TestNegativeWindowFetchesAtOnceWithCallersContext(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "caller")
	var seen any
	c := &Coalescer[int]{Window: -1, Fetch: func(ctx context.Context, keys []string) (map[string]int, map[string]error) {
		seen = ctx.Value(key{})
		if !slices.Equal(keys, []string{"x", "y"}) {
			t.Errorf("keys %v, want deduplicated [x y]", keys)
		}
		return map[string]int{"x": 1}, nil
	}}
	res, _, err := c.Do(ctx, []string{"x", "y", "x"})
	if err != nil || res["x"] != 1 {
		t.Fatalf("Do = %v, %v", res, err)
	}
	if seen != "caller" {
		t.Errorf("fetch ran under another context")
	}
}

func TestCancelledCallerDoesNotCancelTheBatch(t *testing.T) {
	release := make(chan struct{})
	var fetchErr atomic.Value
	c := &Coalescer[string]{Window: time.Millisecond, Timeout: time.Second, Fetch: func(ctx context.Context, keys []string) (map[string]string, map[string]error) {
		<-release
		fetchErr.Store(ctx.Err() != nil)
		return map[string]string{"k": "v"}, nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, _, err := c.Do(ctx, []string{"k"}); done <- err }()
	other := make(chan map[string]string, 1)
	go func() { res, _, _ := c.Do(context.Background(), []string{"k"}); other <- res }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller got %v", err)
	}
	close(release)
	if res := <-other; res["k"] != "v" {
		t.Errorf("the other caller got %v", res)
	}
	if fetchErr.Load() == true {
		t.Errorf("the batch's context ended with a caller's")
	}
}

func TestPickReturnsTheFirstErrorAndSkipsUnknownKeys(t *testing.T) {
	res := map[string]string{"a": "1", "b": "2"}
	vs, err := Pick([]string{"b", "missing", "a", "b"}, res, nil)
	if err != nil || !slices.Equal(vs, []string{"2", "1"}) {
		t.Errorf("Pick = %v, %v; want [2 1]", vs, err)
	}
	boom := errors.New("boom")
	errs := map[string]error{}
	FailAll(errs, []string{"a", "c"}, boom)
	if _, err := Pick([]string{"b", "a"}, res, errs); !errors.Is(err, boom) {
		t.Errorf("Pick error = %v, want boom", err)
	}
}
