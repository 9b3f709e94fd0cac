//go:build linux

// Package release tests scripts/release.sh as a maintainer runs it, for the
// host platform only (the other five targets differ only in GOOS/GOARCH),
// and `go install …@VERSION` against a module proxy made from this checkout.
package release

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

const modulePath = "github.com/spec-kitty/spec-kitty"

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestReleaseScript_HostArchiveChecksumsSBOM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a release; not in -short")
	}
	root := repoRoot(t)
	out := t.TempDir()
	const version = "3.9.1-test.1"
	target := runtime.GOOS + "/" + runtime.GOARCH
	name := "spec-kitty_" + version + "_" + runtime.GOOS + "_" + runtime.GOARCH

	cmd := exec.Command("./scripts/release.sh", version)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "RELEASE_OUT="+out, "RELEASE_TARGETS="+target)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("release.sh: %v\n%s", err, b)
	}

	// SHA256SUMS names every other file, and each sum is right.
	sums := readSums(t, filepath.Join(out, "SHA256SUMS"))
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "SHA256SUMS" {
			continue
		}
		want, ok := sums[e.Name()]
		if !ok {
			t.Errorf("SHA256SUMS does not list %s", e.Name())
			continue
		}
		if got := sha256File(t, filepath.Join(out, e.Name())); got != want {
			t.Errorf("%s: sha256 %s, SHA256SUMS says %s", e.Name(), got, want)
		}
		delete(sums, e.Name())
	}
	for f := range sums {
		t.Errorf("SHA256SUMS lists %s, which is not in the release", f)
	}

	// The archive holds the binary, the man pages and the completions.
	dir := t.TempDir()
	files := untar(t, filepath.Join(out, name+".tar.gz"), dir)
	for _, want := range []string{
		name + "/spec-kitty",
		name + "/README.md",
		name + "/man/man1/spec-kitty.1",
		name + "/man/man1/spec-kitty-auth-doctor.1",
		name + "/man/man1/spec-kitty-sync-publish.1",
		name + "/completions/spec-kitty.bash",
		name + "/completions/_spec-kitty",
		name + "/completions/spec-kitty.fish",
		name + "/completions/spec-kitty.ps1",
	} {
		if !files[want] {
			t.Errorf("archive lacks %s (has %v)", want, keys(files))
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, name, "completions/spec-kitty.bash")); err != nil || !strings.Contains(string(b), "spec-kitty") {
		t.Errorf("bash completion is not spec-kitty's: %v %.80q", err, b)
	}

	// The binary is stamped with the version, the commit and its date.
	b, err := exec.Command(filepath.Join(dir, name, "spec-kitty"), "version", "--json").Output()
	if err != nil {
		t.Fatalf("version --json: %v", err)
	}
	var info struct{ Version, Commit, BuildDate string }
	if err := json.Unmarshal(b, &struct {
		Version   *string `json:"version"`
		Commit    *string `json:"commit"`
		BuildDate *string `json:"build_date"`
	}{&info.Version, &info.Commit, &info.BuildDate}); err != nil {
		t.Fatalf("version --json: %v\n%s", err, b)
	}
	head := gitOut(t, root, "rev-parse", "HEAD")
	if info.Version != version || !strings.HasPrefix(info.Commit, head) || info.BuildDate == "" || info.BuildDate == "unknown" {
		t.Errorf("version --json = %+v, want version %s, commit %s, a build date", info, version, head)
	}

	// The SBOM is CycloneDX and lists what the binary links, not the
	// release tooling's own dependencies.
	var bom struct {
		BOMFormat   string `json:"bomFormat"`
		SpecVersion string `json:"specVersion"`
		Metadata    struct {
			Component struct{ Name, Version string } `json:"component"`
		} `json:"metadata"`
		Components []struct{ Name, Version string } `json:"components"`
	}
	raw, err := os.ReadFile(filepath.Join(out, name+".sbom.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &bom); err != nil {
		t.Fatalf("SBOM is not JSON: %v", err)
	}
	if bom.BOMFormat != "CycloneDX" || bom.SpecVersion == "" ||
		bom.Metadata.Component.Name != modulePath || bom.Metadata.Component.Version != "v"+version {
		t.Errorf("SBOM header: format %q spec %q component %+v", bom.BOMFormat, bom.SpecVersion, bom.Metadata.Component)
	}
	names := map[string]bool{}
	for _, c := range bom.Components {
		names[c.Name] = true
	}
	for _, want := range []string{"modernc.org/sqlite", "github.com/spf13/cobra", "golang.org/x/sys"} {
		if !names[want] {
			t.Errorf("SBOM lacks %s", want)
		}
	}
	for _, not := range []string{"github.com/CycloneDX/cyclonedx-gomod", "honnef.co/go/tools", "github.com/chromedp/chromedp"} {
		if names[not] {
			t.Errorf("SBOM lists %s, which the binary does not link", not)
		}
	}
}

// TestGoInstallAtVersion proves `go install …/cmd/spec-kitty@VERSION` works:
// the committed tree, zipped as the module proxy would serve it, installs
// with a fresh module cache and no network (dependencies come from this
// machine's module cache, which is itself a valid GOPROXY). It fails when
// go.mod grows a replace directive, which go install refuses.
func TestGoInstallAtVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the module from a proxy; not in -short")
	}
	root := repoRoot(t)
	const version = "v1.0.0"
	proxy := t.TempDir()
	vdir := filepath.Join(proxy, modulePath, "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		t.Fatal(err)
	}
	zf, err := os.Create(filepath.Join(vdir, version+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	// The committed tree, as `git archive` gives it (a worktree or a plain
	// clone alike), is what a tag would serve.
	tree := t.TempDir()
	archive := exec.Command("sh", "-c", `git archive HEAD | tar -x -C "$1"`, "sh", tree)
	archive.Dir = root
	if b, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("git archive HEAD: %v\n%s", err, b)
	}
	if err := modzip.CreateFromDir(zf, module.Version{Path: modulePath, Version: version}, tree); err != nil {
		t.Fatalf("zipping HEAD as a module: %v", err)
	}
	zf.Close()
	gomod := gitOut(t, root, "show", "HEAD:go.mod")
	writeFile(t, filepath.Join(vdir, version+".mod"), gomod+"\n")
	writeFile(t, filepath.Join(vdir, version+".info"), `{"Version":"`+version+`","Time":"2026-12-04T00:00:00Z"}`)
	writeFile(t, filepath.Join(vdir, "list"), version+"\n")

	cache := strings.TrimSpace(goEnv(t, "GOMODCACHE"))
	gobin := t.TempDir()
	cmd := exec.Command("go", "install", modulePath+"/cmd/spec-kitty@"+version)
	cmd.Dir = t.TempDir() // outside this module, as a user runs it
	cmd.Env = append(os.Environ(),
		"GOPROXY=file://"+proxy+",file://"+filepath.Join(cache, "cache", "download"),
		"GOMODCACHE="+t.TempDir(), "GOFLAGS=-modcacherw -trimpath", "GOSUMDB=off",
		"GOBIN="+gobin, "CGO_ENABLED=0", "GOTOOLCHAIN=local")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install @%s: %v\n%s", version, err, b)
	}
	b, err := exec.Command(filepath.Join(gobin, "spec-kitty"), "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(b), "spec-kitty") {
		t.Fatalf("installed binary --version: %v %s", err, b)
	}
}

func readSums(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sums := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, file, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 {
			t.Fatalf("SHA256SUMS line %q is not `<sha256>  <file>`", sc.Text())
		}
		sums[file] = sum
	}
	return sums
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// untar extracts a .tar.gz into dir and returns the names of its files.
func untar(t *testing.T, archive, dir string) map[string]bool {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	files := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg || !filepath.IsLocal(h.Name) {
			continue
		}
		files[h.Name] = true
		dst := filepath.Join(dir, h.Name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, os.FileMode(h.Mode)&0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, tr); err != nil {
			t.Fatal(err)
		}
		out.Close()
	}
}

func keys(m map[string]bool) []string {
	var s []string
	for k := range m {
		s = append(s, k)
	}
	return s
}

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return strings.TrimSpace(string(b))
}

func goEnv(t *testing.T, key string) string {
	t.Helper()
	b, err := exec.Command("go", "env", key).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", key, err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
