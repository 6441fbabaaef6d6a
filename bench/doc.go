// Package bench measures what Strata adds on top of Temporal: throughput
// and history size next to a minimal workflow running the same number of
// no-op activities on the same server and worker, restore fan-out, and a
// fleet of scheduled jobs served by one worker process. Everything runs on
// an in-process Temporal server with the local provider, so figures are
// comparable within one run; each benchmark reports ratios measured in that
// run, because absolute times on shared machines drift.
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/
//
// docs/benchmarks.md lists the benchmarks, their targets and the
// figures last measured.
package bench
