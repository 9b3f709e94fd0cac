package session

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
)

// auth/session.hot-path.json is the Python CLI's token-free presence cache
// (specify_cli/auth/session_hot_path.py): written after every session write
// and after a command had to decrypt the session anyway, it lets a
// short-lived command learn that someone is logged in without deriving the
// scrypt key. The file is tied to one version of session.json by its
// durable fingerprint and is good for at most 30 s; anything else — stale,
// mismatched, malformed, of another schema — is a cache miss, never an
// error.
//
// Upstream's reader takes schema_version, generated_at, max_age_seconds,
// durable_fingerprint and refresh_token_expires_at and ignores other keys.
// This program adds one, "presence" (who, which team, until when: the
// SessionSummary, never a token), so that its `auth doctor` can name the
// user from the file too; a file the Python CLI wrote has no presence and
// only saves the key derivation where presence is not needed.
const (
	hotPathSchema = 1
	// hotPathMaxAge is upstream's _MAX_AGE_SECONDS: the file is trusted
	// for at most this long, whatever max_age_seconds it claims.
	hotPathMaxAge = 30.0
	// hotPathMaxBytes bounds the file: a real one is well under 4 KiB.
	hotPathMaxBytes = 64 << 10

	// EnvDisableHotPath set to "1" makes this program neither read nor
	// write session.hot-path.json, as upstream (SPEC §13).
	EnvDisableHotPath = "SPEC_KITTY_DISABLE_SESSION_HOT_PATH"
)

func hotPathDisabled() bool { return os.Getenv(EnvDisableHotPath) == "1" }

// HotPathPath is auth/session.hot-path.json.
func (s *Store) HotPathPath() string { return filepath.Join(s.Dir, hotPathName) }

// hotPathFile is the file's JSON, keys in the order Python's
// json.dumps(sort_keys=True) writes them.
type hotPathFile struct {
	DurableFingerprint api.SessionFingerprint `json:"durable_fingerprint"`
	GeneratedAt        float64                `json:"generated_at"`
	MaxAgeSeconds      float64                `json:"max_age_seconds"`
	Presence           *api.SessionSummary    `json:"presence,omitempty"`
	RefreshExpires     *string                `json:"refresh_token_expires_at"`
	SchemaVersion      int                    `json:"schema_version"`
}

// durableFingerprint is the durable fingerprint of a session file's stat.
func durableFingerprint(fi os.FileInfo) api.SessionFingerprint {
	return api.SessionFingerprint{Inode: inodeOf(fi), MtimeNS: fi.ModTime().UnixNano(), Size: fi.Size()}
}

// publishHotPath writes the hot-path file for st, the session whose file
// had fingerprint fp when st was read or written. Taking fp from before the
// read (not a stat afterwards) means a session replaced meanwhile leaves a
// file that no longer matches: a miss, never another login's summary.
// Failures are ignored, as upstream ignores them: the file only saves time.
func (s *Store) publishHotPath(st *Stored, fp api.SessionFingerprint) {
	if hotPathDisabled() {
		return
	}
	// As upstream: no file for a session that is gone. And none for one
	// that changed since it was read: it would only be a miss.
	if fi, err := os.Lstat(s.SessionPath()); err != nil || durableFingerprint(fi) != fp {
		return
	}
	f := hotPathFile{
		DurableFingerprint: fp,
		GeneratedAt:        float64(time.Now().UnixNano()) / 1e9,
		MaxAgeSeconds:      hotPathMaxAge,
		Presence:           summaryOf(st),
		SchemaVersion:      hotPathSchema,
	}
	f.Presence.Fingerprint = fp
	if !st.RefreshExpires.IsZero() {
		v := pythonISO(st.RefreshExpires)
		f.RefreshExpires = &v
	}
	data, err := json.Marshal(f)
	if err != nil {
		return
	}
	_ = writeReplace(s.HotPathPath(), data)
}

// publishHotPathNow publishes for st after a write under the session lock:
// nobody else can have replaced session.json since.
func (s *Store) publishHotPathNow(st *Stored) {
	if hotPathDisabled() {
		return
	}
	if fi, err := os.Lstat(s.SessionPath()); err == nil {
		s.publishHotPath(st, durableFingerprint(fi))
	}
}

// writeReplace writes data to a new private temporary file beside path and
// renames it over path: readers see the old file or the new one, and two
// writers never share a temporary file.
func writeReplace(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp") // mode 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// hotPath is what a fresh hot-path file says.
type hotPath struct {
	refreshExpires time.Time           // zero: not given
	presence       *api.SessionSummary // nil: the file does not say who
}

// loadHotPath reads the hot-path file and returns it when it is fresh and
// names the session file whose fingerprint is fp; nil on any miss.
func (s *Store) loadHotPath(fp api.SessionFingerprint, now time.Time) *hotPath {
	if hotPathDisabled() {
		return nil
	}
	raw, err := readTrusted(s.HotPathPath(), hotPathMaxBytes, true)
	if err != nil {
		return nil
	}
	var f struct {
		SchemaVersion      json.Number                `json:"schema_version"`
		GeneratedAt        json.Number                `json:"generated_at"`
		MaxAgeSeconds      json.Number                `json:"max_age_seconds"`
		DurableFingerprint map[string]json.RawMessage `json:"durable_fingerprint"`
		RefreshExpires     *string                    `json:"refresh_token_expires_at"`
		Presence           json.RawMessage            `json:"presence"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&f) != nil {
		return nil
	}
	if v, err := f.SchemaVersion.Float64(); err != nil || v != hotPathSchema {
		return nil
	}
	gen, err1 := f.GeneratedAt.Float64()
	maxAge, err2 := f.MaxAgeSeconds.Float64()
	if err1 != nil || err2 != nil {
		return nil
	}
	age := float64(now.UnixNano())/1e9 - gen
	if age < 0 || age > math.Min(maxAge, hotPathMaxAge) {
		return nil
	}
	if !sameFingerprint(f.DurableFingerprint, fp) {
		return nil
	}
	hp := &hotPath{}
	if f.RefreshExpires != nil && *f.RefreshExpires != "" {
		t, err := time.Parse(time.RFC3339Nano, *f.RefreshExpires)
		if err != nil {
			return nil // upstream: no time zone, or not a time, is a miss
		}
		hp.refreshExpires = t.UTC()
	}
	var p api.SessionSummary
	if len(f.Presence) > 0 && json.Unmarshal(f.Presence, &p) == nil && p.Fingerprint == fp && p.Email != "" {
		hp.presence = &p
	}
	return hp
}

// sameFingerprint is upstream's dict comparison: exactly the three keys,
// each the same integer.
func sameFingerprint(m map[string]json.RawMessage, fp api.SessionFingerprint) bool {
	want := map[string]string{
		"inode":    strconv.FormatUint(fp.Inode, 10),
		"mtime_ns": strconv.FormatInt(fp.MtimeNS, 10),
		"size":     strconv.FormatInt(fp.Size, 10),
	}
	if len(m) != len(want) {
		return false
	}
	for k, v := range want {
		if string(bytes.TrimSpace(m[k])) != v {
			return false
		}
	}
	return true
}

// pythonISO formats t as Python's datetime.isoformat() does for an aware
// UTC time: microseconds only when there are any, offset +00:00.
func pythonISO(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 != 0 {
		return t.Format("2006-01-02T15:04:05.000000-07:00")
	}
	return t.Format("2006-01-02T15:04:05-07:00")
}

// summaryOf is the token-free summary of a stored session.
func summaryOf(st *Stored) *api.SessionSummary { return view(st, "").Summary(api.SessionFingerprint{}) }
