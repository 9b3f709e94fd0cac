//go:build linux

package live

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/cleanup"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/procinfo"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

func start(t *testing.T, e *testenv.Env) api.StartResult {
	t.Helper()
	var res api.StartResult
	e.MustJSON(&res, "sync", "start", "--json")
	return res
}

func TestSync_StartReuseStatusStop(t *testing.T) {
	e := testenv.New(t)
	first := start(t, e)
	if !first.Started || first.Reused || first.PID == 0 {
		t.Fatalf("first start = %+v, want started", first)
	}
	second := start(t, e)
	if !second.Reused || second.Started || second.PID != first.PID || second.Port != first.Port {
		t.Fatalf("second start = %+v, want reuse of pid %d", second, first.PID)
	}
	var st api.StatusResult
	e.MustJSON(&st, "sync", "status", "--json")
	if !st.Healthy || st.PID == nil || *st.PID != first.PID || *st.ProtocolVersion != api.ProtocolVersion {
		t.Fatalf("status = %+v, want healthy pid %d", st, first.PID)
	}
	if res := e.Run("sync", "stop"); res.Code != 0 {
		t.Fatalf("sync stop: %d %s", res.Code, res.Stderr)
	}
	if procinfo.Alive(first.PID) {
		t.Fatalf("pid %d still alive after sync stop", first.PID)
	}
	if _, err := os.Stat(e.Path("sync-daemon")); !os.IsNotExist(err) {
		t.Fatalf("state file still present after stop: %v", err)
	}
	if _, err := os.Stat(e.Path("daemons", itoa(first.Port)+".json")); !os.IsNotExist(err) {
		t.Fatalf("instance record left behind after clean exit: %v", err)
	}
	testenv.WaitFree(t, first.Port)
}

func TestSync_RecordedOlderVersionIsReplaced(t *testing.T) {
	e := testenv.New(t)
	var old api.StartResult
	if res := e.RunWith(map[string]string{"SPEC_KITTY_CLI_VERSION": "3.2.2"}, "", "sync", "start", "--json"); res.Code != 0 {
		t.Fatalf("start 3.2.2: %s", res.Stderr)
	} else if err := json.Unmarshal([]byte(res.Stdout), &old); err != nil {
		t.Fatal(err)
	}
	e.Vars["SPEC_KITTY_CLI_VERSION"] = "3.3.0"
	cur := start(t, e)
	if !cur.Started || cur.PID == old.PID || cur.PackageVersion != "3.3.0" {
		t.Fatalf("start 3.3.0 = %+v, want a new daemon replacing pid %d", cur, old.PID)
	}
	if procinfo.Alive(old.PID) {
		t.Fatalf("old 3.2.2 daemon pid %d still alive", old.PID)
	}
	assertOneDaemon(t, e, cur.PID)
}

func TestSync_FR012_TwentyConcurrentStartsLeaveOneDaemon(t *testing.T) {
	e := testenv.New(t)
	const n = 20
	results := make([]testenv.Result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i] = e.Run("sync", "start", "--json") })
	}
	wg.Wait()
	pids := map[int]bool{}
	started := 0
	for _, r := range results {
		var res api.StartResult
		if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &res) != nil {
			t.Fatalf("sync start: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
		}
		pids[res.PID] = true
		if res.Started {
			started++
		}
	}
	if len(pids) != 1 || started != 1 {
		t.Fatalf("20 starts saw pids %v with %d spawns, want one pid spawned once", pids, started)
	}
	rec, err := statefile.Read(e.Path("sync-daemon"))
	if err != nil {
		t.Fatal(err)
	}
	if !pids[rec.PID] {
		t.Fatalf("state file names pid %d, starts reported %v", rec.PID, pids)
	}
	assertOneDaemon(t, e, rec.PID)
}

func TestDaemon_HealthShutdownAndHostGuard(t *testing.T) {
	e := testenv.New(t)
	port := testenv.FreePorts(t, api.SyncRange, 1)[0]
	d := e.SpawnDaemon(testenv.DaemonOpts{Port: port, Version: "3.2.4"})

	body := get(t, port, "127.0.0.1", "/api/health")
	if strings.Contains(body, d.Token) {
		t.Fatal("health payload contains the token")
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"status", "daemon_family", "singleton_scope_id", "protocol_version", "package_version", "sync", "owner"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("health lacks %q: %s", k, body)
		}
	}
	for _, k := range []string{"running", "last_sync", "consecutive_failures", "queue_depth"} {
		if _, ok := raw["sync"].(map[string]any)[k]; !ok {
			t.Errorf("health.sync lacks %q", k)
		}
	}
	owner := raw["owner"].(map[string]any)
	for _, k := range []string{"pid", "port", "package_version", "executable_path", "server_url", "auth_principal", "auth_team", "auth_scope", "queue_db_path", "started_at"} {
		if _, ok := owner[k]; !ok {
			t.Errorf("health.owner lacks %q", k)
		}
	}
	if raw["daemon_family"] != "sync" || raw["singleton_scope_id"] != e.Home || raw["package_version"] != "3.2.4" ||
		int(owner["pid"].(float64)) != d.PID || int(owner["port"].(float64)) != port {
		t.Fatalf("health does not describe the daemon: %s", body)
	}
	for _, f := range []string{e.Path("sync-daemon.log"), e.Path("daemon", "owner.json")} {
		if data, err := os.ReadFile(f); err == nil && bytes.Contains(data, []byte(d.Token)) {
			t.Errorf("%s contains the token", f)
		}
	}

	if code := post(t, port, "/api/shutdown", `{"token":"wrong"}`); code != http.StatusForbidden {
		t.Fatalf("shutdown with wrong token: %d, want 403", code)
	}
	if code := status(t, port, "evil.example", "/api/health"); code != http.StatusForbidden {
		t.Fatalf("Host evil.example: %d, want 403", code)
	}
	if code := post(t, port, "/api/shutdown", `{"token":"`+strings.Repeat("x", 1<<20)+`"}`); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("1 MiB shutdown body: %d, want 413", code)
	}
	if d.Exited() || !procinfo.Alive(d.PID) {
		t.Fatal("daemon died from refused requests")
	}
	if code := post(t, port, "/api/shutdown", `{"token":"`+d.Token+`"}`); code != http.StatusOK {
		t.Fatalf("shutdown with token: %d", code)
	}
	if !d.WaitExit(10 * time.Second) {
		t.Fatal("daemon did not exit after an authenticated shutdown")
	}
}

func TestSync_RecoversFromBadStateFile(t *testing.T) {
	for _, tc := range []struct{ name, content, note string }{
		{"empty", "", "empty"},
		{"truncated", "http://127.0.0.1:9400\n94", "lines"},
		{"garbage", "\x00\xffnot a state file\nx\ny\nz\n", "not a daemon url"},
		{"dead pid", "http://127.0.0.1:9449\n9449\ntoken\n999999\n", "not running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := testenv.New(t)
			if err := os.WriteFile(e.Path("sync-daemon"), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			res := start(t, e)
			if !res.Started || res.PID == 0 {
				t.Fatalf("start = %+v", res)
			}
			if !strings.Contains(strings.Join(res.Notes, "\n"), tc.note) {
				t.Fatalf("notes %q do not say what was found (%q)", res.Notes, tc.note)
			}
			rec, err := statefile.Read(e.Path("sync-daemon"))
			if err != nil || rec.PID != res.PID {
				t.Fatalf("state file after recovery: %+v, %v", rec, err)
			}
			human := e.Run("sync", "start")
			if human.Code != 0 || !strings.Contains(human.Stdout, "reused") {
				t.Fatalf("second start: %d %q %q", human.Code, human.Stdout, human.Stderr)
			}
		})
	}
}

func assertOneDaemon(t *testing.T, e *testenv.Env, pid int) {
	t.Helper()
	if got := e.ScopeDaemons(); len(got) != 1 || got[0] != pid {
		t.Fatalf("live daemons of the scope: %v, want only %d", got, pid)
	}
	if got := e.ScopeListeners(); len(got) != 1 {
		t.Fatalf("listeners of the scope: %v, want exactly one", got)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func request(t *testing.T, method string, port int, host, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, client.URL(port)+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.String()
}

func get(t *testing.T, port int, host, path string) string {
	t.Helper()
	code, body := request(t, http.MethodGet, port, host, path, "")
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	return body
}

func status(t *testing.T, port int, host, path string) int {
	code, _ := request(t, http.MethodGet, port, host, path, "")
	return code
}

func post(t *testing.T, port int, path, body string) int {
	code, _ := request(t, http.MethodPost, port, "127.0.0.1", path, body)
	return code
}

// TestSync_StopJournalsAndNeverSendsTheTokenToAWedgedDaemon: a healthy
// recorded daemon is stopped with one journaled request; a wedged one gets
// no token, its record is cleared so auth doctor can classify it, and the
// command says what to run.
func TestSync_StopJournalsAndNeverSendsTheTokenToAWedgedDaemon(t *testing.T) {
	e := testenv.New(t)
	first := start(t, e)
	if res := e.Run("sync", "stop"); res.Code != 0 {
		t.Fatalf("sync stop: %d %s", res.Code, res.Stderr)
	}
	j := e.Journal()
	if len(j) != 1 || j[0].Actor != cleanup.ActorSyncStop || j[0].PID != first.PID || j[0].Step != api.PathHTTPShutdown {
		t.Fatalf("journal after sync stop = %+v, want one sync_stop http_shutdown line", j)
	}

	second := start(t, e)
	rec := recorded(t, e)
	if err := syscall.Kill(second.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(second.PID, syscall.SIGCONT) })
	res := e.Run("sync", "stop")
	if res.Code != 1 || !strings.Contains(res.Stderr, "spec-kitty auth doctor --reset --force") {
		t.Fatalf("sync stop of a wedged daemon: exit %d, stderr %q", res.Code, res.Stderr)
	}
	if _, err := os.Stat(e.Path("sync-daemon")); !os.IsNotExist(err) {
		t.Fatal("record of the wedged daemon was not cleared")
	}
	if !procinfo.Alive(rec.PID) {
		t.Fatal("sync stop killed a daemon it could not verify")
	}
	if got := e.Journal(); len(got) != 1 {
		t.Fatalf("a request was sent to the wedged daemon: %+v", got)
	}
}
