package e2e

import (
	"testing"

	"github.com/stratabackup/strata/internal/stratatest"
)

var server *stratatest.Server

func TestMain(m *testing.M) { stratatest.Main(m, &server) }
