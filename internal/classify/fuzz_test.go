package classify

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spec-kitty/spec-kitty/internal/api"
)

// Fuzz flag bits.
const (
	fuzzOwnerPresent = 1 << iota
	fuzzWedged
	fuzzHTTPAnswered
	fuzzIsSingleton
	fuzzTokenProven
)

// fuzzArgv picks a command line shape; the marker is fuzzed inside it, and
// the last choice makes the whole argv out of the marker string.
func fuzzArgv(choice uint8, port int, marker string) (argv []string, readable bool) {
	switch choice % 8 {
	case 0:
		return goArgv(port, markerArg(marker), execArg(currentExe)), true
	case 1:
		return legacyArgv(markerArg(marker)), true
	case 2:
		return goArgv(port), true
	case 3:
		return []string{currentExe, DashboardDaemonArg, "--port=" + strconv.Itoa(port)}, true
	case 4:
		return []string{"/opt/app/server", markerArg(marker)}, true
	case 5:
		return nil, false
	case 6:
		return goArgv(port, MarkerFlag, marker), true
	default:
		return strings.Fields(marker), true
	}
}

func FuzzParseHealthAndClassify(f *testing.F) {
	seeds := []struct {
		body   string
		port   int
		pid    int
		choice uint8
		marker string
		flags  uint8
	}{
		{goHealthJSON(5001, 9401, "3.2.2"), 9401, 5001, 0, homeScope, fuzzHTTPAnswered},
		{goHealthJSON(4000, 9400, currentVer), 9400, 4000, 0, homeScope, fuzzHTTPAnswered | fuzzIsSingleton | fuzzOwnerPresent},
		{goHealthJSON(5002, 9402, "3.2.3"), 9402, 5002, 0, foreignScope, fuzzHTTPAnswered},
		{goHealthJSON(5003, 9403, "3.2.3"), 9450, 5003, 6, homeScope, fuzzHTTPAnswered},
		{legacyHealthJSON(9409), 9409, 5009, 1, homeScope, fuzzHTTPAnswered},
		{legacyHealthJSON(9409), 9409, 0, 5, homeScope, fuzzHTTPAnswered},
		{goHealthJSON(5003, 9403, "3.2.2"), 9403, 0, 5, homeScope, fuzzHTTPAnswered | fuzzTokenProven},
		{dashboardHealthJSON(6001, 9420), 9420, 6001, 3, homeScope, fuzzHTTPAnswered},
		{dashboardHealthJSON(6001, 9237), 9237, 6001, 3, homeScope, fuzzHTTPAnswered},
		{`<html>404 Not Found</html>`, 9430, 7001, 4, homeScope, fuzzHTTPAnswered},
		{"\x00\xff{{{[", 9431, 7002, 7, "nc -l 9431", 0},
		{"", 9432, 5004, 0, homeScope, fuzzWedged},
		{"null", 9433, 5005, 0, homeScope, fuzzHTTPAnswered},
		{`{"status":1,"token":"x"}`, 9434, 5006, 1, homeScope, fuzzHTTPAnswered},
		{`{"status":"ok","daemon_family":"sync","owner":null}`, 9435, 5007, 0, homeScope, fuzzHTTPAnswered},
		{`{"status":"ok","daemon_family":"sync","owner":{"pid":-1,"port":70000}}`, -1, -1, 0, "", fuzzHTTPAnswered},
		{`{"status":"ok","pad":"` + strings.Repeat("x", 60<<10) + `"}`, 9436, 5008, 0, homeScope, fuzzHTTPAnswered},
		{`{"status":"ok","pad":"` + strings.Repeat("x", api.MaxHealthBytes) + `"}`, 9437, 5009, 0, homeScope, fuzzHTTPAnswered},
		{`{"status":"ok"}`, 9438, 5010, 7, pythonExe + " -c " + legacyEntryPoint + " " + markerArg(homeScope), fuzzHTTPAnswered},
	}
	for _, s := range seeds {
		f.Add([]byte(s.body), s.port, s.pid, s.choice, s.marker, s.flags)
	}
	f.Fuzz(func(t *testing.T, body []byte, port, pid int, choice uint8, marker string, flags uint8) {
		h, keys, err := api.ParseHealth(body)
		if err != nil && h != nil {
			t.Fatalf("ParseHealth returned a payload with error %v", err)
		}
		argv, readable := fuzzArgv(choice, port, marker)
		ev := Evidence{
			Port: port, PID: pid, UID: -1,
			Argv: argv, ArgvReadable: readable,
			HTTPAnswered:    flags&fuzzHTTPAnswered != 0,
			Health:          h,
			HealthRawFields: keys,
			Wedged:          flags&fuzzWedged != 0,
			OwnerPresent:    flags&fuzzOwnerPresent != 0,
			TokenProven:     flags&fuzzTokenProven != 0,
		}
		scope := here
		if flags&fuzzIsSingleton != 0 {
			scope.SingletonPID, scope.SingletonPort = pid, port
		}

		rec := Classify(ev, scope)
		checkInvariants(t, "fuzz", ev, rec)

		flipped := ev
		flipped.OwnerPresent = !ev.OwnerPresent
		if again := Classify(flipped, scope); again.CleanupClass != rec.CleanupClass || again.Reason != rec.Reason {
			t.Fatalf("owner_present changed (%s, %s) to (%s, %s)", rec.CleanupClass, rec.Reason, again.CleanupClass, again.Reason)
		}
		if rec.CleanupClass != api.ClassSafeAuto {
			return
		}
		// Only our own scope's marker, or the token of our own instance
		// record, is authority.
		if rec.IdentitySource == api.SourceTokenProof {
			if ev.PID > 0 || !ev.TokenProven || rec.PID != nil {
				t.Fatalf("token_proof record with a pid: %+v", ev)
			}
		} else if sh := SpawnShape(argv); !sh.OK || filepath.Clean(sh.Marker) != filepath.Clean(scope.ID) {
			t.Fatalf("safe_auto with shape %+v for scope %s", sh, scope.ID)
		}
		if rec.IsRecordedSingleton {
			t.Fatal("the recorded singleton classed safe_auto")
		}
	})
}
