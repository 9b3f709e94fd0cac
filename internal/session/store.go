package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/scrypt"
)

// The on-disk format is the Python CLI's encrypted session store
// (specify_cli/auth/secure_storage/file_fallback.py), byte-compatible both
// ways:
//
//   - auth/session.json: {"version": 2, "nonce": hex, "ciphertext": hex},
//     AES-256-GCM with a 12-byte nonce, no additional data; the plaintext is
//     the StoredSession JSON (see Stored).
//   - auth/session.salt: 16 raw random bytes.
//   - key: scrypt(N=2^14, r=8, p=1, 32 bytes) over "hostname:uid" (uid 0
//     where the OS has none) and the salt.
//   - auth/session.lock: an empty file locked (flock, LOCK_EX) around every
//     write and delete; session.json is replaced by writing session.json.tmp
//     and renaming it.
const (
	formatVersion = 2
	saltLen       = 16
	nonceLen      = 12
	keyLen        = 32
	scryptR       = 8
	scryptP       = 1

	credName    = "session.json"
	saltName    = "session.salt"
	lockName    = "session.lock"
	refreshName = "refresh.lock"
	hotPathName = "session.hot-path.json"

	// lockTimeout is upstream's FileLock(timeout=10) on the session lock.
	lockTimeout = 10 * time.Second
)

// scryptN is the scrypt cost. Tests lower it; production must match the
// Python CLI's 2^14 or neither side can read the other's session.
var scryptN = 1 << 14

// blob is the JSON of auth/session.json.
type blob struct {
	Version    any    `json:"version"`
	Nonce      string `json:"nonce"`
	Ciphertext string `json:"ciphertext"`
}

// Store is the encrypted session store in one auth directory.
type Store struct{ Dir string }

// keyInput returns the scrypt passphrase, "hostname:uid"; tests replace it
// to read fixtures written for another host.
var keyInput = hostPassphrase

// NewStore returns the store of the auth directory dir.
func NewStore(dir string) *Store { return &Store{Dir: dir} }

// storeFor returns the store holding the session file path.
func storeFor(sessionFile string) *Store { return NewStore(filepath.Dir(sessionFile)) }

// SessionPath is auth/session.json.
func (s *Store) SessionPath() string { return filepath.Join(s.Dir, credName) }

// SaltPath is auth/session.salt.
func (s *Store) SaltPath() string { return filepath.Join(s.Dir, saltName) }

// LockPath is auth/session.lock.
func (s *Store) LockPath() string { return filepath.Join(s.Dir, lockName) }

// RefreshLockPath is auth/refresh.lock.
func (s *Store) RefreshLockPath() string { return filepath.Join(s.Dir, refreshName) }

func hostPassphrase() ([]byte, error) {
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("reading the host name: %w", err)
	}
	uid := os.Getuid()
	if uid < 0 { // Windows: upstream uses 0 where os.getuid is missing
		uid = 0
	}
	return []byte(host + ":" + strconv.Itoa(uid)), nil
}

// keyCache holds derived keys for the life of the process: scrypt costs
// tens of milliseconds by design, and the daemon reads the session for
// every health answer and every batch. The key is no more secret than the
// salt and host name it is derived from, which this process can read anyway.
var keyCache struct {
	sync.Mutex
	m map[[sha256.Size]byte][]byte
}

func (s *Store) key(salt []byte) ([]byte, error) {
	pass, err := keyInput()
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%d\x00%s\x00", scryptN, len(pass), pass)
	h.Write(salt)
	var id [sha256.Size]byte
	h.Sum(id[:0])
	keyCache.Lock()
	defer keyCache.Unlock()
	if k, ok := keyCache.m[id]; ok {
		return k, nil
	}
	k, err := scrypt.Key(pass, salt, scryptN, scryptR, scryptP, keyLen)
	if err != nil {
		return nil, fmt.Errorf("deriving the session key: %w", err)
	}
	countDerivation()
	if keyCache.m == nil || len(keyCache.m) > 16 {
		keyCache.m = map[[sha256.Size]byte][]byte{}
	}
	keyCache.m[id] = k
	return k, nil
}

// Read returns the stored session, or (nil, nil) when there is none. A
// session file that is a symlink, not a regular file, not the user's or not
// mode 0600 is refused, as is one that does not decrypt.
func (s *Store) Read() (*Stored, error) {
	if err := checkDir(s.Dir); err != nil {
		return nil, fmt.Errorf("reading session: %w", err)
	}
	raw, fp, err := s.readSessionFile()
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading session %s: %w", s.SessionPath(), err)
	}
	salt, err := readTrusted(s.SaltPath(), 1024, false)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading session %s: %w: salt file %s is missing", s.SessionPath(), ErrInvalid, s.SaltPath())
	}
	if err != nil {
		return nil, fmt.Errorf("reading session salt %s: %w", s.SaltPath(), err)
	}
	st, err := s.decode(raw, salt)
	if err != nil {
		return nil, fmt.Errorf("reading session %s: %w", s.SessionPath(), err)
	}
	s.publishHotPath(st, fp) // as upstream does after decrypting
	return st, nil
}

// decode decrypts and parses a session file's bytes.
func (s *Store) decode(raw, salt []byte) (*Stored, error) {
	plain, err := s.decrypt(raw, salt)
	if err != nil {
		return nil, err
	}
	return parseStored(plain)
}

func (s *Store) decrypt(raw, salt []byte) ([]byte, error) {
	var b blob
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object: %v", ErrInvalid, err)
	}
	if v, ok := b.Version.(float64); !ok || v != formatVersion {
		return nil, fmt.Errorf("%w: unsupported session format version %v (want %d)", ErrInvalid, b.Version, formatVersion)
	}
	if len(salt) != saltLen {
		return nil, fmt.Errorf("%w: salt has %d bytes, want %d", ErrInvalid, len(salt), saltLen)
	}
	nonce, err := hex.DecodeString(b.Nonce)
	if err != nil || len(nonce) != nonceLen {
		return nil, fmt.Errorf("%w: malformed nonce", ErrInvalid)
	}
	ct, err := hex.DecodeString(b.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed ciphertext", ErrInvalid)
	}
	key, err := s.key(salt)
	if err != nil {
		return nil, err
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, nonce, ct, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot decrypt (written on another host or by another user?)", ErrInvalid)
	}
	return plain, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("session cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

// ErrExists reports a login that would replace a usable stored session
// without being told to (upstream's "already logged in; use --force").
var ErrExists = errors.New("a session is already stored")

// Every change of the session happens in one critical section under
// session.lock: what is checked (is there a session, is it still the one
// refreshed, is the salt usable) is what is written over. The salt is read
// or created under the same lock, so a logout can never remove the salt a
// concurrent writer has just encrypted with (the Python CLI's storage does
// the same).

// Write stores st under the session lock, replacing any session there —
// even one that cannot be read (login --force, and tests planting a
// session). A salt that cannot be used is replaced along with it.
func (s *Store) Write(st *Stored) error {
	return s.locked(func() error { return s.writeLocked(st, true) })
}

// Create stores st under the session lock unless a usable session is
// stored — one that reads and has not expired, upstream's
// is_authenticated —, in which case it returns ErrExists and changes
// nothing. A session that cannot be read or has expired is replaced (the
// Python CLI discards an unreadable one on read), its salt too if unusable.
func (s *Store) Create(st *Stored) error {
	return s.locked(func() error {
		cur, err := s.Read()
		switch {
		case err == nil && cur != nil && !view(cur, "").Expired(time.Now()):
			return fmt.Errorf("%w at %s", ErrExists, s.SessionPath())
		case err != nil && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUntrusted):
			return err
		}
		return s.writeLocked(st, true)
	})
}

// swap replaces the stored session with next only while the stored one is
// still prev (same refresh token and session id): a refresh must neither
// bring back a session that was logged out while its token request was in
// flight, nor overwrite a newer login. It returns what is stored afterwards;
// nil with ErrNotLoggedIn when the session is gone.
func (s *Store) swap(prev, next *Stored) (*Stored, error) {
	var out *Stored
	err := s.locked(func() error {
		cur, err := s.Read()
		switch {
		case err != nil:
			return err
		case cur == nil:
			return fmt.Errorf("%w: the session was removed while it was being refreshed", ErrNotLoggedIn)
		case !sameMaterial(cur, prev):
			out = cur
			return nil
		}
		if err := s.writeLocked(next, false); err != nil {
			return err
		}
		out = next
		return nil
	})
	return out, err
}

// deleteIfSame removes the session only while the stored one is still st.
func (s *Store) deleteIfSame(st *Stored) (bool, error) {
	removed := false
	err := s.locked(func() error {
		cur, err := s.Read()
		if err != nil || cur == nil || !sameMaterial(cur, st) {
			return err
		}
		removed = true
		_, err = s.deleteLocked()
		return err
	})
	return removed, err
}

// locked runs fn holding session.lock in a trusted auth directory.
func (s *Store) locked(fn func() error) error {
	if err := s.ensureDir(); err != nil {
		return err
	}
	return withFileLock(s.LockPath(), lockTimeout, fn)
}

// writeLocked encrypts st with the salt (created when absent; replaced
// when unusable and replaceBadSalt) and replaces session.json by a rename.
// The caller holds session.lock.
func (s *Store) writeLocked(st *Stored, replaceBadSalt bool) error {
	plain, err := st.marshal()
	if err != nil {
		return fmt.Errorf("encoding session: %w", err)
	}
	salt, err := s.loadOrCreateSalt(replaceBadSalt)
	if err != nil {
		return err
	}
	data, err := s.encrypt(plain, salt)
	if err != nil {
		return err
	}
	tmp := s.SessionPath() + ".tmp"
	if err := writeNew(tmp, data); err != nil {
		return fmt.Errorf("writing session: %w", err)
	}
	if err := os.Rename(tmp, s.SessionPath()); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing session: %w", err)
	}
	s.publishHotPathNow(st)
	return nil
}

func (s *Store) encrypt(plain, salt []byte) ([]byte, error) {
	key, err := s.key(salt)
	if err != nil {
		return nil, err
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, nonceLen)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("session nonce: %w", err)
	}
	ct := aead.Seal(nil, nonce, plain, nil)
	// Key order and spacing as Python's json.dumps writes them.
	return []byte(fmt.Sprintf(`{"version": %d, "nonce": "%s", "ciphertext": "%s"}`,
		formatVersion, hex.EncodeToString(nonce), hex.EncodeToString(ct))), nil
}

// loadOrCreateSalt reuses the salt, or writes a fresh one (mode 0600) when
// there is none — or, with replaceBad, when the one there is unusable (of
// the wrong size, not a regular file): whatever it encrypted is being
// replaced anyway. The caller holds session.lock.
func (s *Store) loadOrCreateSalt(replaceBad bool) ([]byte, error) {
	salt, err := readTrusted(s.SaltPath(), 1024, false)
	switch {
	case err == nil && len(salt) == saltLen:
		return salt, nil
	case err == nil && !replaceBad:
		return nil, fmt.Errorf("%w: salt file %s has %d bytes, want %d", ErrInvalid, s.SaltPath(), len(salt), saltLen)
	case err != nil && !errors.Is(err, os.ErrNotExist) && (!replaceBad || !errors.Is(err, ErrUntrusted)):
		return nil, fmt.Errorf("reading session salt: %w", err)
	}
	salt = make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("session salt: %w", err)
	}
	if err := writeNew(s.SaltPath(), salt); err != nil {
		return nil, fmt.Errorf("writing session salt: %w", err)
	}
	return salt, nil
}

// Delete removes the session, its salt and upstream's redacted hot-path
// summary under the session lock — the files upstream's logout removes,
// and no other — without reading them, so a session that cannot be read
// can be removed too. It returns the paths it removed.
func (s *Store) Delete() ([]string, error) {
	if _, err := os.Lstat(s.Dir); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err := checkDir(s.Dir); err != nil {
		return nil, fmt.Errorf("removing session: %w", err)
	}
	var removed []string
	err := withFileLock(s.LockPath(), lockTimeout, func() error {
		var err error
		removed, err = s.deleteLocked()
		return err
	})
	return removed, err
}

// deleteLocked removes the session files; the caller holds session.lock.
func (s *Store) deleteLocked() ([]string, error) {
	var removed []string
	for _, p := range []string{s.SessionPath(), s.SaltPath(), filepath.Join(s.Dir, hotPathName)} {
		err := os.Remove(p)
		switch {
		case err == nil:
			removed = append(removed, p)
		case errors.Is(err, os.ErrNotExist):
		case p == s.SessionPath():
			return removed, fmt.Errorf("removing session: %w", err)
		}
	}
	return removed, nil
}

func (s *Store) ensureDir() error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", s.Dir, err)
	}
	if err := checkDir(s.Dir); err != nil {
		return fmt.Errorf("writing session: %w", err)
	}
	return nil
}

// writeNew writes data to path with mode 0600, replacing a regular file
// there but never following a symlink at path.
func writeNew(path string, data []byte) error {
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	_ = os.Remove(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
