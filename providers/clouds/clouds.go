// Package clouds links every cloud provider into a binary: importing it for
// its side effect registers each cloud's Factory with package providers,
// which the worker then opens by name. Serving a new cloud takes its
// package, its Register call and one import here.
package clouds

import (
	_ "github.com/stratabackup/strata/providers/aws"
	_ "github.com/stratabackup/strata/providers/gcp"
)
