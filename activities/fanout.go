package activities

import (
	"errors"
	"sync"

	"go.temporal.io/sdk/temporal"
)

// fanOut runs one(0) ... one(n-1) at once, at most limit of them at a
// time (0: no limit), and returns a failure retry cannot fix if any call
// had one, else every call's error joined (nil if all succeeded).
func fanOut(n, limit int, one func(i int) error) error {
	if limit <= 0 || limit > n {
		limit = n
	}
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range limit {
		wg.Go(func() {
			for i := range next {
				errs[i] = one(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := firstPermanent(errs); err != nil {
		return err
	}
	return errors.Join(errs...)
}

func firstPermanent(errs []error) error {
	for _, err := range errs {
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.NonRetryable() {
			return err
		}
	}
	return nil
}
