//go:build linux

package live

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// envDashboardScreenshot names a PNG file that the browser test writes the
// page to, for a person to look at. Unset: no screenshot.
const envDashboardScreenshot = "SPEC_KITTY_DASHBOARD_SCREENSHOT"

// browserWait bounds the whole browser session: Chromium starts in about a
// second; the page shows its first scan within one refresh.
const browserWait = 60 * time.Second

// chromiumPath finds Debian's chromium. Without it the test fails under CI
// (which installs it) and is skipped elsewhere.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "chromium is not installed: the dashboard page cannot be checked in a browser (apt-get install -y chromium)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestDashboard_PageInChromium: the page, loaded in headless Chromium, shows
// the scope's live sync daemon and the orphans with their classes, and the
// command that cleans them.
func TestDashboard_PageInChromium(t *testing.T) {
	chromium := chromiumPath(t)
	e := testenv.New(t)
	// A server that refuses every upload: the page must show the queued
	// event, the failures and the error the daemon reports.
	srv := newFakeServer(t)
	srv.failing.Store(true)
	login(t, e, srv.URL)
	var live api.StartResult
	e.MustJSON(&live, "sync", "start", "--json")
	publish(t, recorded(t, e), 1)
	var st api.StatusResult
	waitFor(t, 30*time.Second, "an upload failure", func() bool {
		e.MustJSON(&st, "sync", "status", "--json")
		return st.Sync.ConsecutiveFailures > 0
	})
	ports := testenv.FreePorts(t, api.SyncRange, 3)
	stale := e.SpawnDaemon(testenv.DaemonOpts{Port: ports[0], Version: "3.2.2"})
	noMarker := ""
	preMarker := e.SpawnDaemon(testenv.DaemonOpts{Port: ports[1], Root: &noMarker})
	e.ThirdPartyHTTP(ports[2], "somebody else's server")
	dash := dashStart(t, e, e.NewProject())

	browser, ctx := openPage(t, chromium, dash.URL+"/")

	row := func(port int, class string) chromedp.CSS {
		return chromedp.CSS(fmt.Sprintf(`#listeners tr[data-port="%d"][data-class=%q]`, port, class))
	}
	err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`#live[data-state="live"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#stat-daemon[data-state="active"]`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#listeners tr[data-port="%d"][data-live="true"]`, live.Port))),
		chromedp.WaitVisible(row(stale.Port, api.ClassSafeAuto)),
		chromedp.WaitVisible(row(preMarker.Port, api.ClassOperatorRequired)),
		chromedp.WaitVisible(row(ports[2], api.ClassNeverTouch)),
	)
	if err != nil {
		body, _ := chromedp.Run(browser, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("the page never showed the listeners: %v\npage text:\n%s", err, body)
	}

	texts := map[string]string{}
	for _, sel := range []string{"#listeners", "#daemon", "#findings", "#project", "#stat-stale-value", "#stat-ops",
		`#daemon [data-field="failures"]`, `#daemon [data-field="last-error"]`, `#daemon [data-field="last-sync"]`} {
		txt, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		texts[sel] = txt
	}
	wantIn := map[string][]string{
		"#listeners": {
			itoa(live.PID), "live",
			itoa(stale.PID), "3.2.2", api.ClassSafeAuto, api.StaleVersion,
			itoa(preMarker.PID), api.ClassOperatorRequired, api.SkipPreMarker,
			api.ClassNeverTouch, api.SkipThirdParty,
		},
		"#daemon": {"running and healthy", itoa(live.PID), itoa(live.Port), e.Home,
			"Queue", "1 event(s) waiting", "Last sync", "Consecutive failures", "Last upload error"},
		"#stat-ops":                        {"--force, or y at the prompt"},
		`#daemon [data-field="last-sync"]`: {"never"},
		"#findings":                        {"spec-kitty auth doctor --reset", "spec-kitty auth doctor --reset --force"},
		"#project":                         {dash.ProjectPath},
		"#stat-stale-value":                {"1"},
	}
	if n, err := strconv.Atoi(texts[`#daemon [data-field="failures"]`]); err != nil || n < 1 {
		t.Errorf("the page shows consecutive failures %q, want at least 1", texts[`#daemon [data-field="failures"]`])
	}
	// The page shows exactly the error the daemon reports ("none" without).
	wantErr := "none"
	if st.Sync.LastError != nil {
		wantErr = *st.Sync.LastError
	}
	wantIn[`#daemon [data-field="last-error"]`] = []string{wantErr}
	for sel, wants := range wantIn {
		for _, w := range wants {
			if !strings.Contains(texts[sel], w) {
				t.Errorf("%s does not show %q:\n%s", sel, w, texts[sel])
			}
		}
	}

	if path := os.Getenv(envDashboardScreenshot); path != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err == nil {
			err = os.WriteFile(path, png, 0o644)
		}
		if err != nil {
			t.Errorf("screenshot: %v", err)
		}
	}

	// Looking is all the page does: every listener it showed still runs.
	for _, p := range []*testenv.Proc{stale, preMarker} {
		if p.Exited() {
			t.Errorf("pid %d on port %d exited while the page was open", p.PID, p.Port)
		}
	}
	assertLiveSync(t, live)
}

// openPage loads url in headless Chromium and returns the browser context
// and a context bounded by browserWait for the checks.
func openPage(t *testing.T, chromium, url string) (browser, ctx context.Context) {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	// The first action starts the browser and must not carry a timeout;
	// later ones are bounded.
	if err := chromedp.Do(browser, chromedp.Navigate(url)); err != nil {
		t.Fatalf("loading %s in chromium: %v", url, err)
	}
	ctx, cancel := context.WithTimeout(browser, browserWait)
	t.Cleanup(cancel)
	return browser, ctx
}

// TestDashboard_PageShowsParkedEvents: events the server refuses for good
// are on the page — the count, the command that lists them and the
// doctor's finding — from the daemon's health while it runs and from the
// queue file once it has stopped.
func TestDashboard_PageShowsParkedEvents(t *testing.T) {
	chromium := chromiumPath(t)
	e := testenv.New(t)
	srv := newFakeServer(t)
	srv.parkAll.Store(true)
	login(t, e, srv.URL)
	start(t, e)
	publish(t, recorded(t, e), 2)
	waitFor(t, 30*time.Second, "both events parked", func() bool {
		var st api.StatusResult
		e.MustJSON(&st, "sync", "status", "--json")
		return st.Sync.Parked == 2
	})
	dash := dashStart(t, e, e.NewProject())
	browser, ctx := openPage(t, chromium, dash.URL+"/")

	parked := chromedp.CSS(`#daemon [data-field="parked"][data-tone="warn"]`)
	read := func(what string, sel chromedp.CSS) string {
		t.Helper()
		txt, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			body, _ := chromedp.Run(browser, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("%s: %v\npage text:\n%s", what, err, body)
		}
		return txt
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#stat-daemon[data-state="active"]`)), chromedp.WaitVisible(parked)); err != nil {
		body, _ := chromedp.Run(browser, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("the page never showed parked events: %v\npage text:\n%s", err, body)
	}
	if txt := read("parked row", parked); !strings.Contains(txt, "2 event(s)") || !strings.Contains(txt, "spec-kitty sync parked") {
		t.Errorf("parked row = %q, want the count and the command", txt)
	}
	if txt := read("findings", chromedp.CSS(`#findings [data-finding="parked_events"]`)); !strings.Contains(txt, "spec-kitty sync parked") {
		t.Errorf("parked_events finding = %q, want the command", txt)
	}

	// Without a daemon the page reads the count from the queue file.
	if r := e.Run("sync", "stop"); r.Code != 0 {
		t.Fatalf("sync stop: %d %s", r.Code, r.Stderr)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#stat-daemon[data-state="inactive"]`)), chromedp.WaitVisible(parked)); err != nil {
		t.Fatalf("after sync stop: %v", err)
	}
	if txt := read("parked row without a daemon", parked); !strings.Contains(txt, "2 event(s)") {
		t.Errorf("parked row without a daemon = %q, want 2", txt)
	}
}

func assertLiveSync(t *testing.T, live api.StartResult) {
	t.Helper()
	if h := dashHealth(t, live.Port); h.Owner == nil || h.Owner.PID != live.PID {
		t.Fatalf("the live sync daemon pid %d on port %d no longer answers as itself", live.PID, live.Port)
	}
}
