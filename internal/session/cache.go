package session

import (
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
)

// LoadCached is Load for callers that ask often — the daemon reads the
// session for every health answer and upload round: while the session
// file, its salt, config.toml and $SPEC_KITTY_SAAS_URL are unchanged (same
// file, size, mode and modification time), it returns the last result
// without reading or decrypting anything.
func LoadCached(path string) (*Session, error) {
	c := loadCached(path)
	return c.s, c.err
}

// CachedSummary is the token-free summary of the session LoadCached holds,
// tied to the fingerprint session.json had before it was read; nil when
// there is no usable session. The daemon reports it in health so that a
// command which only shows the login need not derive the key.
func CachedSummary(path string) *api.SessionSummary {
	c := loadCached(path)
	if c.s == nil || c.err != nil || c.fp.files[0].fi == nil {
		return nil
	}
	return c.s.Summary(durableFingerprint(c.fp.files[0].fi))
}

func loadCached(path string) cachedLoad {
	fp := fingerprintOf(path)
	loadCache.Lock()
	defer loadCache.Unlock()
	if c, ok := loadCache.m[path]; ok && c.fp.same(fp) {
		return c
	}
	s, err := Load(path)
	if loadCache.m == nil {
		loadCache.m = map[string]cachedLoad{}
	}
	c := cachedLoad{fp: fp, s: s, err: err}
	loadCache.m[path] = c
	return c
}

var loadCache struct {
	sync.Mutex
	m map[string]cachedLoad
}

type cachedLoad struct {
	fp  fingerprint
	s   *Session
	err error
}

type fileMark struct {
	fi      os.FileInfo // nil: absent
	mod     time.Time
	size    int64
	mode    os.FileMode
	present bool
}

type fingerprint struct {
	env   string
	files [3]fileMark
}

func fingerprintOf(path string) fingerprint {
	fp := fingerprint{env: os.Getenv(EnvServerURL)}
	for i, p := range []string{path, filepath.Join(filepath.Dir(path), saltName), filepath.Join(rootOf(path), "config.toml")} {
		if fi, err := os.Lstat(p); err == nil {
			fp.files[i] = fileMark{fi: fi, mod: fi.ModTime(), size: fi.Size(), mode: fi.Mode(), present: true}
		}
	}
	return fp
}

func (a fingerprint) same(b fingerprint) bool {
	if a.env != b.env {
		return false
	}
	for i := range a.files {
		x, y := a.files[i], b.files[i]
		if x.present != y.present {
			return false
		}
		if x.present && (!x.mod.Equal(y.mod) || x.size != y.size || x.mode != y.mode || !os.SameFile(x.fi, y.fi)) {
			return false
		}
	}
	return true
}
