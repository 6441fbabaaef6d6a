package bench

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
)

// A row is one figure of the report TestMain prints after the benchmarks.
type row struct {
	Section, Name, Value, Target, Verdict string
}

var report struct {
	sync.Mutex
	rows []row
}

func addRow(r row) {
	report.Lock()
	defer report.Unlock()
	// The benchmark framework may call a benchmark more than once while it
	// sizes b.N: the last figure of a measure stands.
	for i := range report.rows {
		if report.rows[i].Section == r.Section && report.rows[i].Name == r.Name {
			report.rows[i] = r
			return
		}
	}
	report.rows = append(report.rows, r)
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// printReport prints the figures as one table per section.
func printReport(w io.Writer) {
	report.Lock()
	defer report.Unlock()
	if len(report.rows) == 0 {
		return
	}
	var sections []string
	seen := map[string]bool{}
	for _, r := range report.rows {
		if !seen[r.Section] {
			seen[r.Section] = true
			sections = append(sections, r.Section)
		}
	}
	for _, s := range sections {
		fmt.Fprintf(w, "\n%s\n%s\n", s, strings.Repeat("-", len(s)))
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "measure\tvalue\ttarget\t")
		for _, r := range report.rows {
			if r.Section == s {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, r.Value, r.Target, r.Verdict)
			}
		}
		tw.Flush()
	}
}
