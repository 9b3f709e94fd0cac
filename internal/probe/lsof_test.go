package probe

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// readFixture returns an lsof fixture without its header: the leading
// "#" lines that say where the output came from and how it was adapted.
func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "lsof", name))
	if err != nil {
		t.Fatal(err)
	}
	for bytes.HasPrefix(data, []byte("#")) {
		_, data, _ = bytes.Cut(data, []byte("\n"))
	}
	return data
}

// TestLsofFixtures_NameTheirSource: every non-empty fixture says in its
// header where its output came from (a public source, this project's own
// capture, or that it is hand-written).
func TestLsofFixtures_NameTheirSource(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "lsof", "*.txt"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 {
			continue // lsof's answer when nothing matches
		}
		header, _, _ := strings.Cut(string(data), "\np")
		if !strings.HasPrefix(header, "# ") || !(strings.Contains(header, "Source:") || strings.Contains(header, "Captured") || strings.Contains(header, "HAND-WRITTEN")) {
			t.Errorf("%s: no header naming its source", path)
		}
	}
}

// TestParseLsof_Fixtures parses lsof field output: adapted from macOS
// captures in public sources, captured on Linux (lsof 4.95, which prints no
// f field), and hand-written in the macOS style. Each file's header says
// which.
func TestParseLsof_Fixtures(t *testing.T) {
	cases := []struct {
		name, file string
		want       []pidListener
		wantPIDs   map[int][]int
	}{
		{
			name: "linux: one socket of each family shared across a fork",
			file: "linux-shared-fork.txt",
			want: []pidListener{
				{26551, "127.0.0.1", 9449}, {26551, "*", 9448},
				{26592, "127.0.0.1", 9449}, {26592, "*", 9448},
			},
			wantPIDs: map[int][]int{9448: {26551, 26592}, 9449: {26551, 26592}},
		},
		{
			name: "macos: f fields, loopback v4 beats ::1, a wildcard",
			file: "macos-daemons.txt",
			want: []pidListener{
				{501, "127.0.0.1", 9401}, {502, "127.0.0.1", 9402}, {502, "[::1]", 9402}, {777, "*", 9405},
			},
			wantPIDs: map[int][]int{9401: {501}, 9402: {502}, 9405: {777}},
		},
		{
			name:     "macos: two pids on one socket",
			file:     "macos-shared-fork.txt",
			want:     []pidListener{{601, "127.0.0.1", 9410}, {602, "127.0.0.1", 9410}},
			wantPIDs: map[int][]int{9410: {601, 602}},
		},
		{
			name: "ipv6 wildcard, mapped loopback, other interface, unknown fields",
			file: "macos-ipv6-extra-fields.txt",
			want: []pidListener{
				{801, "[::]", 9420}, {802, "[::ffff:127.0.0.1]", 9421}, {802, "10.0.0.5", 9422},
			},
			wantPIDs: map[int][]int{9420: {801}, 9421: {802}},
		},
		{
			name:     "macos capture layout: every field, a listener, a connection, udp",
			file:     "macos-full-fields.txt",
			want:     []pidListener{{4311, "127.0.0.1", 9401}},
			wantPIDs: map[int][]int{9401: {4311}},
		},
		{
			name:     "macos capture: one process on the v4 and v6 wildcard",
			file:     "macos-dual-stack-wildcard.txt",
			want:     []pidListener{{687, "*", 9437}, {687, "*", 9437}},
			wantPIDs: map[int][]int{9437: {687}},
		},
		{name: "f lines without names", file: "f-always-selected.txt", wantPIDs: map[int][]int{}},
		{name: "lsof exit 1: no output", file: "empty.txt", wantPIDs: map[int][]int{}},
	}
	ports := make([]int, 0, 50)
	for p := 9400; p < 9450; p++ {
		ports = append(ports, p)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseLsof(readFixture(t, tc.file))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseLsof = %v, want %v", got, tc.want)
			}
			if pids := pickPIDs(got, ports); !reflect.DeepEqual(pids, tc.wantPIDs) {
				t.Errorf("pickPIDs = %v, want %v", pids, tc.wantPIDs)
			}
		})
	}
}

func TestParseLsof_Tolerance(t *testing.T) {
	cases := []struct {
		name, in string
		want     []pidListener
	}{
		{"crlf line ends", "p10\r\ncx\r\nn127.0.0.1:9400\r\n", []pidListener{{10, "127.0.0.1", 9400}}},
		{"name before any pid", "n127.0.0.1:9400\np11\nn127.0.0.1:9401\n", []pidListener{{11, "127.0.0.1", 9401}}},
		{"bad pid drops its names", "pabc\nn127.0.0.1:9400\np12\nn*:9402\n", []pidListener{{12, "*", 9402}}},
		{"connected socket is not a listener", "p13\nn127.0.0.1:9400->127.0.0.1:5000\n", nil},
		{"port out of range", "p14\nn127.0.0.1:70000\nn127.0.0.1:0\nn127.0.0.1:\n", nil},
		{"unbalanced bracket", "p15\nn[::1:9400\n", nil},
		{"no trailing newline", "p16\nn127.0.0.1:9449", []pidListener{{16, "127.0.0.1", 9449}}},
		{"blank lines and unknown letters", "\n\nZ\np17\nk9\nn0.0.0.0:9400\n", []pidListener{{17, "0.0.0.0", 9400}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseLsof([]byte(tc.in)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseLsof(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestLsofArgs(t *testing.T) {
	got := strings.Join(lsofArgs(9400, 9449), " ")
	if want := "-nP -b -w -iTCP:9400-9449 -sTCP:LISTEN -F pcn"; got != want {
		t.Errorf("lsof args = %q, want %q", got, want)
	}
}

func TestHostTier(t *testing.T) {
	cases := map[string]int{
		"127.0.0.1": 3, "[::ffff:127.0.0.1]": 3, "*": 2, "0.0.0.0": 2, "[::]": 1,
		"[::1]": 0, "10.0.0.5": 0, "127.0.0.2": 0, "": 0,
	}
	for host, want := range cases {
		if got := hostTier(host); got != want {
			t.Errorf("hostTier(%q) = %d, want %d", host, got, want)
		}
	}
}

func FuzzParseLsof(f *testing.F) {
	for _, name := range []string{"linux-shared-fork.txt", "macos-daemons.txt", "macos-shared-fork.txt", "macos-ipv6-extra-fields.txt", "macos-full-fields.txt", "macos-dual-stack-wildcard.txt", "f-always-selected.txt"} {
		f.Add(readFixture(f, name))
	}
	f.Add([]byte("p1\nn[::]:1\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		ls := ParseLsof(out)
		for _, l := range ls {
			if l.PID <= 0 || l.Port < 1 || l.Port > maxPort {
				t.Fatalf("invalid listener %+v", l)
			}
			if !strings.Contains(string(out), l.Host) {
				t.Fatalf("host %q not in the input", l.Host)
			}
		}
		// pickPIDs never names a pid for a port it was not asked about.
		for port, pids := range pickPIDs(ls, []int{9400, 9449}) {
			if (port != 9400 && port != 9449) || len(pids) == 0 {
				t.Fatalf("pickPIDs named %v for port %d", pids, port)
			}
		}
	})
}
