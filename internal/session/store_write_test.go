package session

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// tokenSession is a stored session for the store's write tests.
func tokenSession(t *testing.T, email string) *Stored {
	t.Helper()
	st, err := TokenLogin{ServerURL: "https://sk.example.com", Email: email, Team: "t", Token: "tok"}.Stored(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// unreadableSessions damage a stored session in the ways a user meets:
// each leaves a session Read refuses.
var unreadableSessions = map[string]func(t *testing.T, path string){
	"salt of the wrong size": func(t *testing.T, path string) {
		writeFile(t, filepath.Join(filepath.Dir(path), saltName), []byte("short"), 0o600)
	},
	"garbage ciphertext": func(t *testing.T, path string) {
		writeFile(t, path, []byte(`{"version": 2, "nonce": "000000000000000000000000", "ciphertext": "deadbeef"}`), 0o600)
	},
	"not JSON": func(t *testing.T, path string) {
		writeFile(t, path, []byte("{not json"), 0o600)
	},
	"missing salt": func(t *testing.T, path string) {
		if err := os.Remove(filepath.Join(filepath.Dir(path), saltName)); err != nil {
			t.Fatal(err)
		}
	},
}

func writeFile(t *testing.T, path string, b []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// TestCreateRefusesAUsableSession: a login without --force over a
// usable session changes nothing and says ErrExists.
func TestCreateRefusesAUsableSession(t *testing.T) {
	useFixtureKey(t, 1<<10)
	path := filepath.Join(t.TempDir(), "auth", credName)
	if err := SaveNew(path, tokenSession(t, "first@example.com")); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	if err := SaveNew(path, tokenSession(t, "new@example.com")); !errors.Is(err, ErrExists) {
		t.Fatalf("SaveNew over a stored session = %v, want ErrExists", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Errorf("the refused login changed session.json")
	}
}

// TestCreateReplacesAnExpiredOrUnreadableSession, as upstream's login
// does (it asks for --force only while the login is usable), and writes
// over a salt of the wrong size left behind without a session.
func TestCreateReplacesAnExpiredOrUnreadableSession(t *testing.T) {
	useFixtureKey(t, 1<<10)
	cases := map[string]func(t *testing.T, path string){
		"expired token login": func(t *testing.T, path string) {
			st := tokenSession(t, "old@example.com")
			st.AccessExpires = time.Now().Add(-time.Minute)
			if err := Save(path, st); err != nil {
				t.Fatal(err)
			}
		},
		"leftover salt of the wrong size": func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(filepath.Dir(path), saltName), []byte("bad"), 0o600)
		},
	}
	for k, v := range unreadableSessions {
		cases[k] = v
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			path := installFixture(t, "python-n1024")
			damage(t, path)
			if err := SaveNew(path, tokenSession(t, "new@example.com")); err != nil {
				t.Fatal(err)
			}
			if st, err := ReadStored(path); err != nil || st == nil || st.Email != "new@example.com" {
				t.Fatalf("after SaveNew: %+v, %v", st, err)
			}
		})
	}
}

// TestWriteReplacesAnUnreadableSession: login --force is a way out of each
// damaged state; the result is readable.
func TestWriteReplacesAnUnreadableSession(t *testing.T) {
	useFixtureKey(t, 1<<10)
	for name, damage := range unreadableSessions {
		t.Run(name, func(t *testing.T) {
			path := installFixture(t, "python-n1024")
			damage(t, path)
			if _, err := ReadStored(path); err == nil {
				t.Fatal("the damaged session still reads")
			}
			if err := Save(path, tokenSession(t, "new@example.com")); err != nil {
				t.Fatal(err)
			}
			if st, err := ReadStored(path); err != nil || st == nil || st.Email != "new@example.com" {
				t.Fatalf("after Save: %+v, %v", st, err)
			}
		})
	}
}

// TestRemoveDeletesAnUnreadableSession: logout --force reads nothing, so
// every damaged state — a file of the wrong mode included — is removed.
func TestRemoveDeletesAnUnreadableSession(t *testing.T) {
	useFixtureKey(t, 1<<10)
	cases := map[string]func(t *testing.T, path string){
		"wrong mode": func(t *testing.T, path string) {
			if runtime.GOOS == "windows" {
				t.Skip("file modes are ACLs on Windows")
			}
			if err := os.Chmod(path, 0o644); err != nil {
				t.Fatal(err)
			}
		},
	}
	for k, v := range unreadableSessions {
		cases[k] = v
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			path := installFixture(t, "python-n1024")
			damage(t, path)
			if _, err := ReadStored(path); err == nil {
				t.Fatal("the damaged session still reads")
			}
			removed, err := Remove(path)
			if err != nil || len(removed) == 0 || removed[0] != path {
				t.Fatalf("Remove = %v, %v", removed, err)
			}
			assertNoSessionFiles(t, path, "%s survived: %v")
		})
	}
}

// TestSwapWritesOnlyOverTheRefreshedSession: a refresh's write lands only
// while the session it refreshed is stored; after a logout it writes
// nothing (no session, no salt), and a newer login is kept.
func TestSwapWritesOnlyOverTheRefreshedSession(t *testing.T) {
	useFixtureKey(t, 1<<10)
	path := installFixture(t, "python-n1024")
	s := storeFor(path)
	prev, err := s.Read()
	if err != nil {
		t.Fatal(err)
	}
	next := *prev
	next.AccessToken, next.RefreshToken = "rotated-access", "rotated-refresh"

	// Another login stored meanwhile: kept, and returned.
	other := tokenSession(t, "other@example.com")
	if err := s.Write(other); err != nil {
		t.Fatal(err)
	}
	got, err := s.swap(prev, &next)
	if err != nil || got == nil || got.Email != "other@example.com" {
		t.Fatalf("swap over another login = %+v, %v", got, err)
	}

	// The refreshed session is stored: replaced.
	if err := s.Write(prev); err != nil {
		t.Fatal(err)
	}
	if got, err := s.swap(prev, &next); err != nil || got.RefreshToken != "rotated-refresh" {
		t.Fatalf("swap = %+v, %v", got, err)
	}
	if st, _ := s.Read(); st == nil || st.RefreshToken != "rotated-refresh" {
		t.Fatalf("stored after swap: %+v", st)
	}

	// Logged out meanwhile: nothing comes back.
	if _, err := Remove(path); err != nil {
		t.Fatal(err)
	}
	if got, err := s.swap(&next, &next); !errors.Is(err, ErrNotLoggedIn) || got != nil {
		t.Fatalf("swap after logout = %+v, %v; want ErrNotLoggedIn", got, err)
	}
	assertNoSessionFiles(t, path, "swap after logout wrote %s back: %v")
}

// TestWritesAndRemovesRaceCleanly: writers and removers in one process
// (separate lock descriptions exclude each other like processes do) leave
// a readable session or none, every time.
func TestWritesAndRemovesRaceCleanly(t *testing.T) {
	useFixtureKey(t, 1<<10)
	path := filepath.Join(t.TempDir(), "auth", credName)
	st := tokenSession(t, "u@example.com")
	for i := range 100 {
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := Save(path, st); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := Remove(path); err != nil {
				t.Error(err)
			}
		}()
		wg.Wait()
		if _, err := ReadStored(path); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
	}
}

// TestRefreshAfterLogoutDoesNotResurrect: the whole refresh, token request
// included, runs while a logout removes the session: the provider says
// not logged in and the files stay gone.
func TestRefreshAfterLogoutDoesNotResurrect(t *testing.T) {
	ts := newTokenServer(t, "py-refresh-1")
	path := expiredFixture(t, ts)
	ts.onToken = func() {
		if _, err := Remove(path); err != nil {
			t.Error(err)
		}
	}
	_, err := newFileProvider(path, ts.Client()).Credentials(context.Background())
	if !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("Credentials = %v, want ErrNotLoggedIn", err)
	}
	assertNoSessionFiles(t, path, "the refresh wrote %s back after the logout: %v")
}

// assertNoSessionFiles fails the test for each of the session and salt
// files still beside path; what names the failure, with %s for the file
// and %v for the Lstat error.
func assertNoSessionFiles(t *testing.T, path, what string) {
	t.Helper()
	for _, n := range []string{credName, saltName} {
		if _, err := os.Lstat(filepath.Join(filepath.Dir(path), n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf(what, n, err)
		}
	}
}
