// Package postgres runs the PostgreSQL servers of Strata's postgres
// clusters on this machine: one server per node, its data directory on the
// node's volume, node 1 the primary and the others streaming replicas.
//
// Servers are started with pg_ctl, which detaches them: the worker is not
// their only owner, so a killed worker leaves every database running and a
// restarted one finds them again by their data directories and ports. When
// the worker runs as root, servers run as the postgres OS user (PostgreSQL
// refuses root), which gets search access to the directories it needs and
// owns only its data directories.
package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/stratabackup/strata/providers"
)

// DefaultUser is the OS user servers run as when the worker is root.
const DefaultUser = "postgres"

// ErrUnavailable: no PostgreSQL binaries on this machine.
var ErrUnavailable = errors.New("PostgreSQL binaries not found (install PostgreSQL, or give their directory with STRATA_PG_BINDIR)")

// Config configures a Manager.
type Config struct {
	// BinDir holds initdb, pg_ctl and pg_basebackup; empty finds them
	// (STRATA_PG_BINDIR, pg_config --bindir, /usr/lib/postgresql/*/bin).
	BinDir string
	// User runs the servers when the worker is root (default postgres).
	User string
	// Root is the directory Strata owns above every volume (the local
	// provider's root): the server user is given search access below it.
	Root string
	// Archive keeps each cluster's WAL: its primary archives every
	// completed segment there, and restores replay from it; nil: no
	// archiving.
	Archive providers.WALArchive
	// SecretsDir holds each cluster's superuser password, private to the
	// worker (0700 directory, 0600 files).
	SecretsDir string
	Logger     *zap.Logger
}

// Manager creates, starts, stops and checks servers.
type Manager struct {
	bin     string
	root    string
	archive providers.WALArchive
	secrets string
	cred    *syscall.Credential // nil: servers run as the worker's user
	log     *zap.Logger
	backups sessions
}

// New finds the binaries and the server user.
func New(cfg Config) (*Manager, error) {
	bin, err := findBinDir(cfg.BinDir)
	if err != nil {
		return nil, err
	}
	if cfg.SecretsDir == "" || cfg.Root == "" {
		return nil, errors.New("postgres: a root and a secrets directory are required")
	}
	// Servers run from "/": every path they are given is absolute.
	if cfg.Root, err = filepath.Abs(cfg.Root); err != nil {
		return nil, err
	}
	if cfg.SecretsDir, err = filepath.Abs(cfg.SecretsDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.SecretsDir, 0o700); err != nil {
		return nil, fmt.Errorf("postgres: secrets directory: %w", err)
	}
	if err := os.Chmod(cfg.SecretsDir, 0o700); err != nil {
		return nil, fmt.Errorf("postgres: secrets directory: %w", err)
	}
	m := &Manager{bin: bin, root: cfg.Root, archive: cfg.Archive, secrets: cfg.SecretsDir, log: cfg.Logger}
	if m.log == nil {
		m.log = zap.NewNop()
	}
	if os.Geteuid() == 0 {
		name := cfg.User
		if name == "" {
			name = DefaultUser
		}
		u, err := user.Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("postgres: the worker runs as root and PostgreSQL refuses to: user %q to run servers as: %w", name, err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		m.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	return m, nil
}

// BinDir is where the binaries were found.
func (m *Manager) BinDir() string { return m.bin }

func findBinDir(given string) (string, error) {
	ok := func(dir string) bool {
		for _, b := range []string{"initdb", "pg_ctl", "pg_basebackup", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if given == "" {
		given = os.Getenv("STRATA_PG_BINDIR")
	}
	if given != "" {
		if !ok(given) {
			return "", fmt.Errorf("postgres: %s lacks initdb, pg_ctl, pg_basebackup or postgres", given)
		}
		return given, nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); ok(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if ok(d) {
			return d, nil
		}
	}
	return "", ErrUnavailable
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// run runs a binary as the server user, with the given environment added;
// its combined output is in the error.
func (m *Manager) run(ctx context.Context, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(m.bin, name), args...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "LC_ALL=C", "HOME=/"}, env...)
	cmd.Dir = "/"
	// Its own process group: a signal to the worker's group does not
	// reach it, nor the server pg_ctl starts.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: m.cred}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// pg_ctl's server keeps no descriptor of ours, but bound the wait for
	// any that would.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > 2000 {
			msg = msg[len(msg)-2000:]
		}
		return fmt.Errorf("%s: %w: %s", name, err, msg)
	}
	return nil
}

// own makes dir the server user's (when it runs as another user).
func (m *Manager) own(dir string) error {
	if m.cred == nil {
		return nil
	}
	return os.Chown(dir, int(m.cred.Uid), int(m.cred.Gid))
}

// reach gives the server user search access to every directory from the
// root (a directory Strata owns) down to dir: group postgres with g+x on the
// ones Strata made, nothing wider. Directories above root must already be
// searchable by it; the error says which is not.
func (m *Manager) reach(dir string) error {
	if m.cred == nil {
		return nil
	}
	root, dir := filepath.Clean(m.root), filepath.Clean(dir)
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		mode := fi.Mode().Perm()
		searchable := mode&0o001 != 0 || (st != nil && st.Uid == m.cred.Uid && mode&0o100 != 0) ||
			(st != nil && st.Gid == m.cred.Gid && mode&0o010 != 0)
		inside := d == root || strings.HasPrefix(d, root+string(filepath.Separator))
		if !searchable {
			if !inside {
				return fmt.Errorf("the %s user cannot reach %s: give it search permission (chmod o+x %s) or put Strata's data directory elsewhere", DefaultUser, d, d)
			}
			if st != nil && st.Gid != m.cred.Gid {
				if err := os.Chown(d, -1, int(m.cred.Gid)); err != nil {
					return err
				}
			}
			if err := os.Chmod(d, mode|0o010); err != nil {
				return err
			}
		}
		if d == "/" || d == filepath.Dir(d) {
			return nil
		}
	}
}

// FreePort is a TCP port on 127.0.0.1 nothing listens on now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// password returns the cluster's superuser password, creating it once.
func (m *Manager) password(clusterID string, create bool) (string, error) {
	path := filepath.Join(m.secrets, clusterID+".password")
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) || !create {
		return "", fmt.Errorf("cluster %s: superuser password: %w", clusterID, err)
	}
	pw, err := randomPassword()
	if err != nil {
		return "", err
	}
	return pw, writeFile(m.secrets, clusterID+".password", pw+"\n")
}

// ForgetCluster removes a deleted cluster's password.
func (m *Manager) ForgetCluster(clusterID string) error {
	err := os.Remove(filepath.Join(m.secrets, clusterID+".password"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
