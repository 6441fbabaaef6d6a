package stratatest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/stratabackup/strata/internal/workercmd"
)

// EnvWorkerCommand makes a test binary run the real worker command
// (`go run ./worker`, workercmd.Main) with the arguments it holds (a JSON
// array), and exit with its code.
const EnvWorkerCommand = "STRATA_TEST_WORKER_COMMAND"

func runWorkerCommandIfAsked() {
	raw, ok := os.LookupEnv(EnvWorkerCommand)
	if !ok {
		return
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		fmt.Fprintf(os.Stderr, "worker command: bad %s: %v\n", EnvWorkerCommand, err)
		os.Exit(2)
	}
	os.Exit(workercmd.Main(args))
}

// WorkerCommand is the worker command running in a process of its own, as
// an operator runs it.
type WorkerCommand struct {
	Cmd    *exec.Cmd
	done   chan struct{}
	mu     sync.Mutex
	stderr bytes.Buffer
}

type lockedWriter struct{ w *WorkerCommand }

func (l lockedWriter) Write(p []byte) (int, error) {
	l.w.mu.Lock()
	defer l.w.mu.Unlock()
	return l.w.stderr.Write(p)
}

// StartWorkerCommand starts `worker args...` in a new process (this test
// binary, re-executed) with env added to this process's environment.
func StartWorkerCommand(args []string, env ...string) (*WorkerCommand, error) {
	raw, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	w := &WorkerCommand{done: make(chan struct{})}
	w.Cmd = exec.Command(exe, "-test.run=^$")
	w.Cmd.Env = append(append(os.Environ(), EnvWorkerCommand+"="+string(raw)), env...)
	w.Cmd.Stderr = lockedWriter{w}
	if err := w.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the worker command: %w", err)
	}
	go func() {
		_ = w.Cmd.Wait()
		close(w.done)
	}()
	return w, nil
}

// Stderr is what the command printed on stderr so far (its log).
func (w *WorkerCommand) Stderr() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stderr.String()
}

// Wait waits up to timeout for the command to exit and returns its exit
// code (-1 if it had not exited, after killing it).
func (w *WorkerCommand) Wait(timeout time.Duration) int {
	select {
	case <-w.done:
		return w.Cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		_ = w.Cmd.Process.Kill()
		<-w.done
		return -1
	}
}

// Stop sends SIGTERM and waits for a clean exit.
func (w *WorkerCommand) Stop(timeout time.Duration) error {
	if err := w.Cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	if code := w.Wait(timeout); code != 0 {
		return fmt.Errorf("worker command exited %d:\n%s", code, w.Stderr())
	}
	return nil
}
