//go:build linux

package live

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// envDashboardScreenshot names the PNG files that the browser test writes
// the page to, for a person to look at; "{width}" in it is replaced by the
// window width (1280, 420). Unset: no screenshot.
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
// the scope's live sync daemon and its upload health, this project, the
// orphans with their classes and the commands that clean them — at 1280 px
// and at 420 px, where nothing is wider than the window.
func TestDashboard_PageInChromium(t *testing.T) {
	chromium := chromiumPath(t)
	e := testenv.New(t)
	// A server that took one batch and now refuses every upload: the page
	// must show the failure as such, when the last success was, the queued
	// event, the failures and the error the daemon reports.
	srv := newFakeServer(t)
	login(t, e, srv.URL)
	var live api.StartResult
	e.MustJSON(&live, "sync", "start", "--json")
	publish(t, recorded(t, e), 1)
	var st api.StatusResult
	waitFor(t, 30*time.Second, "a first successful upload", func() bool {
		e.MustJSON(&st, "sync", "status", "--json")
		return st.Sync.LastSuccessAt != nil
	})
	srv.failing.Store(true)
	publish(t, recorded(t, e), 1)
	waitFor(t, 30*time.Second, "an upload failure", func() bool {
		e.MustJSON(&st, "sync", "status", "--json")
		return st.Sync.ConsecutiveFailures > 0 && st.Sync.LastError != nil
	})
	ports := testenv.FreePorts(t, api.SyncRange, 3)
	stale := e.SpawnDaemon(testenv.DaemonOpts{Port: ports[0], Version: "3.2.2"})
	noMarker := ""
	preMarker := e.SpawnDaemon(testenv.DaemonOpts{Port: ports[1], Root: &noMarker})
	e.ThirdPartyHTTP(ports[2], "somebody else's server")
	dash := dashStart(t, e, projectWithConfig(t, e))

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
		"#stat-daemon", "#project-facts", "#generated", "#logs", "body",
		`#daemon [data-field="failures"]`, `#daemon [data-field="last-error"]`, `#daemon [data-field="last-success"]`} {
		txt, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		texts[sel] = txt
	}
	logPath := e.Path("sync-daemon.log")
	year := strconv.Itoa(time.Now().Year())
	wantIn := map[string][]string{
		"#listeners": {
			itoa(live.PID), "live",
			itoa(stale.PID), "3.2.2", api.ClassSafeAuto, api.StaleVersion,
			itoa(preMarker.PID), api.ClassOperatorRequired, api.SkipPreMarker,
			api.ClassNeverTouch, api.SkipThirdParty,
		},
		"#daemon": {"running, uploads failing", itoa(live.PID), itoa(live.Port), e.Home,
			"Queue", "1 event waiting", "Uploads", "failing since", "Last success", "Consecutive failures", "Last upload error", logPath},
		"#stat-daemon":                        {"Uploads failing", "attempt"},
		`#daemon [data-field="last-success"]`: {year},
		"#stat-ops":                           {"--force, or y at the prompt"},
		"#findings": {"spec-kitty auth doctor --reset", "spec-kitty auth doctor --reset --force",
			"uploads failing since", "spec-kitty sync logs", "1 stale sync daemon of this scope", "1 daemon needs"},
		"#project":          {dash.ProjectPath},
		"#project-facts":    {"live-test", testProject, "acme/live-test", dash.ProjectPath, "1 event of this project waiting", dash.ProjectPath + "/.kittify/dashboard.log"},
		"#stat-stale-value": {"1"},
		"#generated":        {year},
		"#logs":             {logPath},
	}
	if n, err := strconv.Atoi(texts[`#daemon [data-field="failures"]`]); err != nil || n < 1 {
		t.Errorf("the page shows consecutive failures %q, want at least 1", texts[`#daemon [data-field="failures"]`])
	}
	// The page shows exactly the error the daemon reports.
	wantIn[`#daemon [data-field="last-error"]`] = []string{*st.Sync.LastError}
	for sel, wants := range wantIn {
		for _, w := range wants {
			if !strings.Contains(texts[sel], w) {
				t.Errorf("%s does not show %q:\n%s", sel, w, texts[sel])
			}
		}
	}
	// Times carry their zone: the footer and the last success are not a
	// bare clock reading.
	zone := regexp.MustCompile(`\b(UTC|GMT[+-]?\d*|[A-Z]{3,5})$`)
	for _, sel := range []string{`#daemon [data-field="last-success"]`} {
		if !zone.MatchString(strings.TrimSpace(texts[sel])) {
			t.Errorf("%s = %q: no time zone", sel, texts[sel])
		}
	}
	if !zone.MatchString(strings.TrimSuffix(strings.TrimSpace(texts["#generated"]), " · read-only")) {
		t.Errorf("footer time %q: no time zone", texts["#generated"])
	}
	if strings.Contains(texts["body"], "(s)") || strings.Contains(texts["body"], "1 events") {
		t.Errorf("the page has a plural it did not form:\n%s", texts["body"])
	}
	if tone, _ := attr(t, ctx, "#stat-daemon", "data-tone"); tone != "bad" {
		t.Errorf("sync card tone %q while uploads fail, want bad (not an amber Running)", tone)
	}

	screenshot(t, ctx, 1280)
	// At 420 px the layout holds: the document is no wider than the window.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(420, 900)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#findings [data-finding="uploads_failing"]`))); err != nil {
		t.Fatal(err)
	}
	widths, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](
		`[window.innerWidth, document.documentElement.scrollWidth, document.body.scrollWidth]`))
	if err != nil {
		t.Fatal(err)
	}
	if len(widths) != 3 || widths[0] != 420 || widths[1] > widths[0] || widths[2] > widths[0] {
		t.Errorf("at 420 px the page overflows horizontally: innerWidth, scrollWidth of html and body = %v", widths)
	}
	screenshot(t, ctx, 420)

	// Looking is all the page does: every listener it showed still runs.
	for _, p := range []*testenv.Proc{stale, preMarker} {
		if p.Exited() {
			t.Errorf("pid %d on port %d exited while the page was open", p.PID, p.Port)
		}
	}
	assertLiveSync(t, live)
}

// projectWithConfig is a new project directory with the
// .kittify/config.yaml of the live tests' project (testProject).
func projectWithConfig(t *testing.T, e *testenv.Env) string {
	t.Helper()
	dir := e.NewProject()
	src := newProjectDir(t)
	cfg, err := os.ReadFile(filepath.Join(src, ".kittify", "config.yaml"))
	if err == nil {
		err = os.MkdirAll(filepath.Join(dir, ".kittify"), 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, ".kittify", "config.yaml"), cfg, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// attr reads one attribute of the first element matching sel.
func attr(t *testing.T, ctx context.Context, sel, name string) (string, bool) {
	t.Helper()
	res, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil {
		t.Fatalf("reading %s of %s: %v", name, sel, err)
	}
	return res.Value, res.Exists
}

// screenshot writes the page at width to the file SPEC_KITTY_DASHBOARD_SCREENSHOT
// names, with "{width}" replaced by the width: for a person to look at.
func screenshot(t *testing.T, ctx context.Context, width int) {
	t.Helper()
	pattern := os.Getenv(envDashboardScreenshot)
	if pattern == "" {
		return
	}
	path := strings.ReplaceAll(pattern, "{width}", strconv.Itoa(width))
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err == nil {
		err = os.WriteFile(path, png, 0o644)
	}
	if err != nil {
		t.Errorf("screenshot: %v", err)
	}
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
	if txt := read("parked row", parked); !strings.Contains(txt, "2 events") || !strings.Contains(txt, "spec-kitty sync parked") {
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
	if txt := read("parked row without a daemon", parked); !strings.Contains(txt, "2 events") {
		t.Errorf("parked row without a daemon = %q, want 2", txt)
	}
}

func assertLiveSync(t *testing.T, live api.StartResult) {
	t.Helper()
	if h := dashHealth(t, live.Port); h.Owner == nil || h.Owner.PID != live.PID {
		t.Fatalf("the live sync daemon pid %d on port %d no longer answers as itself", live.PID, live.Port)
	}
}
