// Package paths resolves the runtime root, the scope id and the files under
// the root (SPEC §2, §3).
package paths

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
)

// EnvHome overrides the runtime root.
const EnvHome = "SPEC_KITTY_HOME"

// Root returns the runtime root: $SPEC_KITTY_HOME if set, else
// $HOME/.spec-kitty, or %LOCALAPPDATA%\spec-kitty on Windows, where the
// Python implementation keeps it. It does not create it.
func Root() (string, error) {
	if h := os.Getenv(EnvHome); h != "" {
		return filepath.Abs(h)
	}
	return defaultRoot(runtime.GOOS, os.Getenv, os.UserHomeDir)
}

// defaultRoot is the runtime root without SPEC_KITTY_HOME on goos.
func defaultRoot(goos string, getenv func(string) string, homeDir func() (string, error)) (string, error) {
	if goos == "windows" {
		if local := getenv("LOCALAPPDATA"); local != "" {
			return filepath.Join(local, "spec-kitty"), nil
		}
		return "", errors.New("finding the runtime root: %LOCALAPPDATA% is not set")
	}
	home, err := homeDir()
	if err != nil {
		return "", fmt.Errorf("finding the home directory: %w", err)
	}
	return filepath.Join(home, ".spec-kitty"), nil
}

// stateDirName holds the state file, its lock and the log on Windows
// ("daemon\", shared with the Python implementation); elsewhere they sit
// in the root itself.
func stateDirName(goos string) string {
	if goos == "windows" {
		return "daemon"
	}
	return ""
}

// ScopeID returns the scope id of a runtime root: its absolute,
// symlink-resolved path. The root is created (0700) when missing so that a
// fresh scope and the same scope seen later resolve identically.
func ScopeID(root string) (string, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("resolving runtime root %s: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", fmt.Errorf("creating runtime root: %w", err)
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("resolving runtime root %s: %w", abs, err)
	}
	return resolved, nil
}

// Layout names every file under one runtime root.
type Layout struct {
	// Root is the scope id: absolute and symlink-resolved.
	Root string
}

// Resolve returns the layout of the current runtime root.
func Resolve() (Layout, error) {
	root, err := Root()
	if err != nil {
		return Layout{}, err
	}
	return At(root)
}

// At returns the layout of root, creating the root when missing, and
// refuses a root that another user could change (SPEC §3).
func At(root string) (Layout, error) {
	id, err := ScopeID(root)
	if err != nil {
		return Layout{}, err
	}
	l := Layout{Root: id}
	if err := l.CheckTrusted(); err != nil {
		return Layout{}, err
	}
	return l, nil
}

// Peek returns the layout of the current runtime root without creating it:
// a read-only command must not mutate anything. A missing root has no
// symlinks to resolve, so its absolute path is its scope id.
func Peek() (Layout, error) {
	root, err := Root()
	if err != nil {
		return Layout{}, err
	}
	resolved, err := filepath.EvalSymlinks(root)
	if err != nil {
		return Layout{Root: root}, nil
	}
	l := Layout{Root: resolved}
	if err := l.CheckTrusted(); err != nil {
		return Layout{}, err
	}
	return l, nil
}

// ScopeID is the scope id of this layout.
func (l Layout) ScopeID() string { return l.Root }

// StateFile is the 4-line singleton record.
func (l Layout) StateFile() string { return filepath.Join(l.stateDir(), "sync-daemon") }

// stateDir is where the state file, its lock and the log live.
func (l Layout) stateDir() string { return filepath.Join(l.Root, stateDirName(runtime.GOOS)) }

// LockFile serialises every spawn, reap and stop of this scope.
func (l Layout) LockFile() string { return filepath.Join(l.stateDir(), "sync-daemon.lock") }

// LogFile receives the daemon's output.
func (l Layout) LogFile() string { return filepath.Join(l.stateDir(), "sync-daemon.log") }

// OwnerFile is the owner record of the daemon that wrote it last.
func (l Layout) OwnerFile() string { return filepath.Join(l.Root, "daemon", "owner.json") }

// InstanceDir holds one record per running daemon.
func (l Layout) InstanceDir() string { return filepath.Join(l.Root, "daemons") }

// InstanceFile is the per-instance record of the daemon on port.
func (l Layout) InstanceFile(port int) string {
	return filepath.Join(l.InstanceDir(), strconv.Itoa(port)+".json")
}

// QueueDB is the daemon's durable event queue; never the Python CLI's queue.db.
func (l Layout) QueueDB() string { return filepath.Join(l.Root, "sync-daemon-queue.db") }

// UploadLockFile is held by the one daemon of the scope that uploads
// (SPEC §3, §10).
func (l Layout) UploadLockFile() string { return filepath.Join(l.Root, "sync-daemon-upload.lock") }

// SessionFile is the auth session.
func (l Layout) SessionFile() string { return filepath.Join(l.Root, "auth", "session.json") }

// Journal is the append-only cleanup audit trail.
func (l Layout) Journal() string { return filepath.Join(l.Root, "cleanup-journal.jsonl") }

// WriteFileAtomic writes data to path through a temporary file in the same
// directory and a rename, so readers see the old or the new content, never a
// torn one.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(perm); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// RemoveIfExists removes path, treating a missing file as success.
func RemoveIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
