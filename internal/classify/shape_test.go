package classify

import (
	"reflect"
	"testing"
)

func TestSpawnShape(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		want Shape
	}{
		{"go production shape", goArgv(9401, markerArg(homeScope), execArg(currentExe)),
			Shape{OK: true, Marker: homeScope, HasMarker: true, Exec: currentExe}},
		{"go shape any argv0", []string{"spec-kitty", SyncDaemonArg, markerArg(homeScope)},
			Shape{OK: true, Marker: homeScope, HasMarker: true}},
		{"go pre-marker", goArgv(9401), Shape{OK: true}},
		{"go two-arg flags", goArgv(9401, MarkerFlag, homeScope, ExecFlag, currentExe),
			Shape{OK: true, Marker: homeScope, HasMarker: true, Exec: currentExe}},
		{"last marker wins", goArgv(9401, markerArg(foreignScope), markerArg(homeScope)),
			Shape{OK: true, Marker: homeScope, HasMarker: true}},
		{"empty marker is none", goArgv(9401, MarkerFlag+"="), Shape{OK: true}},
		{"flags after -- are positional", goArgv(9401, "--", markerArg(homeScope)), Shape{OK: true}},
		{"signature must be argv[1]", []string{currentExe, "--port=9401", SyncDaemonArg, markerArg(homeScope)},
			Shape{Marker: homeScope, HasMarker: true}},
		{"dashboard is not sync shaped", []string{currentExe, DashboardDaemonArg, "--port=9237"}, Shape{}},
		{"empty argv", nil, Shape{}},
		{"argv0 only", []string{currentExe}, Shape{}},

		{"legacy python3", legacyArgv(markerArg(homeScope)),
			Shape{OK: true, Legacy: true, Marker: homeScope, HasMarker: true}},
		{"legacy with exec", legacyArgv(markerArg(homeScope), execArg("/usr/local/bin/spec-kitty")),
			Shape{OK: true, Legacy: true, Marker: homeScope, HasMarker: true, Exec: "/usr/local/bin/spec-kitty"}},
		{"legacy without marker", legacyArgv(), Shape{OK: true, Legacy: true}},
		{"legacy python", []string{"python", "-c", legacyScript}, Shape{OK: true, Legacy: true}},
		{"legacy python3.11 in a venv", []string{"/home/u/.venv/bin/python3.11", "-c", legacyScript, markerArg(homeScope)},
			Shape{OK: true, Legacy: true, Marker: homeScope, HasMarker: true}},
		{"legacy windows python.exe", []string{`C:\Python311\python.exe`, "-c", legacyScript}, Shape{OK: true, Legacy: true}},
		{"legacy with interpreter options", []string{pythonExe, "-u", "-X", "utf8", "-c", legacyScript}, Shape{OK: true, Legacy: true}},
		{"python -c other script", []string{pythonExe, "-c", "print(1)", markerArg(homeScope)},
			Shape{Marker: homeScope, HasMarker: true}},
		{"python script file", []string{pythonExe, "/tmp/run_sync_daemon.py", "-c", legacyScript}, Shape{}},
		{"python -m module", []string{pythonExe, "-m", "run_sync_daemon", "-c", legacyScript}, Shape{}},
		{"not a python", []string{"/usr/bin/pythonista", "-c", legacyScript}, Shape{}},
		{"ruby with the same script", []string{"/usr/bin/ruby", "-c", legacyScript}, Shape{}},
		{"-c without script", []string{pythonExe, "-c"}, Shape{}},
		{"python with options only", []string{pythonExe, "-u", "-B", "-v"}, Shape{}},
		{"script before -c is ignored", []string{pythonExe, legacyScript, "-c", "x"}, Shape{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SpawnShape(tt.argv); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SpawnShape(%q) = %+v, want %+v", tt.argv, got, tt.want)
			}
		})
	}
}

func TestDashboardShape(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		want bool
	}{
		{"dashboard", []string{currentExe, DashboardDaemonArg, "--port=9237"}, true},
		{"sync", goArgv(9400), false},
		{"signature elsewhere", []string{currentExe, "--port=9237", DashboardDaemonArg}, false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DashboardShape(tt.argv); got != tt.want {
				t.Errorf("DashboardShape(%q) = %v, want %v", tt.argv, got, tt.want)
			}
		})
	}
}

func TestIsPythonExe(t *testing.T) {
	for argv0, want := range map[string]bool{
		"python": true, "python3": true, "python3.11": true, "/usr/bin/python3.12": true,
		`C:\Py\python.exe`: true, "PYTHON3.EXE": true, `C:\Py\pythonw.exe`: true,
		"": false, "py": false, "pythonw3x": false, "/usr/bin/python3-config": false, "/opt/python/bin/node": false,
	} {
		if got := isPythonExe(argv0); got != want {
			t.Errorf("isPythonExe(%q) = %v, want %v", argv0, got, want)
		}
	}
}
