// Package ptytest gives tests a pseudo-terminal: what a program writes to
// its TTY side is collected as a person at the terminal would see it.
package ptytest

import (
	"bytes"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// Terminal is an open pseudo-terminal.
type Terminal struct {
	// TTY is the side a program writes to (its stdout or stderr).
	TTY *os.File
	// PTY is the controlling side (its size is set there).
	PTY *os.File
	mu  sync.Mutex
	out bytes.Buffer
}

// Open opens a terminal, closed when the test ends; it skips the test
// where the machine has none.
func Open(t testing.TB) *Terminal {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	term := &Terminal{TTY: tty, PTY: ptmx}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			term.mu.Lock()
			term.out.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		tty.Close()
		ptmx.Close()
		<-done
	})
	return term
}

// Seen is what the terminal has shown so far.
func (term *Terminal) Seen() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.out.String()
}

// WaitFor waits up to ten seconds until what the terminal showed
// satisfies cond (what a program writes reaches the controlling side a
// moment later), and returns it.
func (term *Terminal) WaitFor(t testing.TB, what string, cond func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := term.Seen()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; the terminal showed %q", what, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
