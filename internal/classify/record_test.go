package classify

import (
	"encoding/json"
	"reflect"
	"sort"
	"testing"

	"github.com/spec-kitty/spec-kitty/internal/api"
)

func str(s string) *string { return &s }
func num(n int) *int       { return &n }
func yes(b bool) *bool     { return &b }

// TestClassify_FR001_RecordFields pins every field of SPEC §6 for the
// kinds of listener a scan meets.
func TestClassify_FR001_RecordFields(t *testing.T) {
	tests := []struct {
		name  string
		ev    Evidence
		scope Scope
		want  api.IdentityRecord
	}{
		{"go daemon fully probed", goDaemon(5001, 9401, "3.2.2"), here, api.IdentityRecord{
			DaemonFamily: str("sync"), PID: num(5001), Port: 9401,
			ProtocolVersion: num(1), PackageVersion: str("3.2.2"),
			SingletonScopeID: str(homeScope), DaemonRoot: str(homeScope),
			QueueDBPath: str("/home/u/.spec-kitty/queue.db"),
			AuthScope:   str("https://sk.example.com|u@example.com|t"), ServerURL: str("https://sk.example.com"),
			IdentitySource: api.SourceHealth, ExecutableSummary: str(currentExe + " (3.2.2)"),
			SpawnShapeOK: true, SelfReportMatchesListener: yes(true),
			CleanupClass: safe, Reason: api.StaleVersion,
		}},
		{"legacy python daemon", legacyDaemon(5009, 9409, markerArg(homeScope)), here, api.IdentityRecord{
			DaemonFamily: str("sync"), PID: num(5009), Port: 9409,
			ProtocolVersion: num(1), PackageVersion: str("3.1.0"),
			SingletonScopeID: str(homeScope), DaemonRoot: str(homeScope),
			IdentitySource: api.SourceHealth, ExecutableSummary: str(pythonExe + " (3.1.0, legacy python)"),
			SpawnShapeOK: true, CleanupClass: safe, Reason: api.StaleVersion,
		}},
		{"wedged daemon known by its marker", with(goDaemon(5003, 9403, "3.2.3"), wedged, func(e *Evidence) { e.Exe = "" }), here, api.IdentityRecord{
			PID: num(5003), Port: 9403,
			SingletonScopeID: str(homeScope), DaemonRoot: str(homeScope),
			IdentitySource: api.SourceMarker, ExecutableSummary: str(currentExe),
			SpawnShapeOK: true, CleanupClass: operator, SkipReason: str(api.SkipUnresponsive), Reason: api.SkipUnresponsive,
		}},
		{"known only to owner.json", Evidence{Port: 9404, PID: 5004, OwnerPresent: true}, here, api.IdentityRecord{
			PID: num(5004), Port: 9404, OwnerPresent: true,
			IdentitySource: api.SourceOwner,
			CleanupClass:   never, SkipReason: str(api.SkipNotSpecKitty), Reason: api.SkipNotSpecKitty,
		}},
		{"nothing known", Evidence{Port: 9405}, here, api.IdentityRecord{
			Port: 9405, IdentitySource: api.SourceNone,
			CleanupClass: never, SkipReason: str(api.SkipNotSpecKitty), Reason: api.SkipNotSpecKitty,
		}},
		{"the recorded singleton", goDaemon(4000, 9400, currentVer), here, api.IdentityRecord{
			DaemonFamily: str("sync"), PID: num(4000), Port: 9400,
			ProtocolVersion: num(1), PackageVersion: str(currentVer),
			SingletonScopeID: str(homeScope), DaemonRoot: str(homeScope),
			QueueDBPath: str("/home/u/.spec-kitty/queue.db"),
			AuthScope:   str("https://sk.example.com|u@example.com|t"), ServerURL: str("https://sk.example.com"),
			IdentitySource: api.SourceHealth, ExecutableSummary: str(currentExe + " (3.2.4)"),
			SpawnShapeOK: true, SelfReportMatchesListener: yes(true), IsRecordedSingleton: true,
			CleanupClass: never, SkipReason: str(api.SkipRecordedSingleton), Reason: api.SkipRecordedSingleton,
		}},
		{"self-report names another pid", with(goDaemon(5006, 9406, currentVer), func(e *Evidence) { e.Health.Owner.PID = 1 }), here, api.IdentityRecord{
			DaemonFamily: str("sync"), PID: num(5006), Port: 9406,
			ProtocolVersion: num(1), PackageVersion: str(currentVer),
			SingletonScopeID: str(homeScope), DaemonRoot: str(homeScope),
			QueueDBPath: str("/home/u/.spec-kitty/queue.db"),
			AuthScope:   str("https://sk.example.com|u@example.com|t"), ServerURL: str("https://sk.example.com"),
			IdentitySource: api.SourceHealth, ExecutableSummary: str(currentExe + " (3.2.4)"),
			SpawnShapeOK: true, SelfReportMatchesListener: yes(false),
			CleanupClass: operator, SkipReason: str(api.SkipPIDPortMismatch), Reason: api.SkipPIDPortMismatch,
		}},
		{"pid unknown leaves the comparison unknown", with(goDaemon(5007, 9407, currentVer), func(e *Evidence) { e.PID = 0 }, unreadableArgv), here, api.IdentityRecord{
			DaemonFamily: str("sync"), Port: 9407,
			ProtocolVersion: num(1), PackageVersion: str(currentVer),
			DaemonRoot:  str(homeScope),
			QueueDBPath: str("/home/u/.spec-kitty/queue.db"),
			AuthScope:   str("https://sk.example.com|u@example.com|t"), ServerURL: str("https://sk.example.com"),
			IdentitySource: api.SourceHealth, ExecutableSummary: str(currentExe + " (3.2.4)"),
			CleanupClass: operator, SkipReason: str(api.SkipMissingPID), Reason: api.SkipMissingPID,
		}},
		{"third party argv0 as summary", Evidence{Port: 9430, PID: 7001, Argv: []string{"/usr/sbin/nginx"}, ArgvReadable: true, HTTPAnswered: true}, here, api.IdentityRecord{
			PID: num(7001), Port: 9430, IdentitySource: api.SourceNone, ExecutableSummary: str("/usr/sbin/nginx"),
			CleanupClass: never, SkipReason: str(api.SkipThirdParty), Reason: api.SkipThirdParty,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(tt.ev, tt.scope)
			if !reflect.DeepEqual(got, tt.want) {
				g, _ := json.MarshalIndent(got, "", "  ")
				w, _ := json.MarshalIndent(tt.want, "", "  ")
				t.Errorf("record:\n%s\nwant:\n%s", g, w)
			}
		})
	}
}

// TestClassify_RecordDoesNotAliasHealth: a caller may reuse or mutate the
// payload after classifying; the record must not change with it.
func TestClassify_RecordDoesNotAliasHealth(t *testing.T) {
	ev := goDaemon(5001, 9401, "3.2.2")
	rec := Classify(ev, here)
	*ev.Health.Owner.ServerURL = "https://changed"
	if *rec.ServerURL != "https://sk.example.com" {
		t.Errorf("record server_url followed the payload: %s", *rec.ServerURL)
	}
}

// TestClassify_RecordJSONHasEveryKey: SPEC §6 says every key is present,
// null where unknown, even for a listener nothing is known about.
func TestClassify_RecordJSONHasEveryKey(t *testing.T) {
	b, err := json.Marshal(Classify(Evidence{Port: 9410}, here))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"daemon_family", "pid", "port", "protocol_version", "package_version",
		"singleton_scope_id", "daemon_root", "queue_db_path", "auth_scope", "server_url",
		"owner_present", "identity_source", "executable_summary", "spawn_shape_ok",
		"self_report_matches_listener", "is_recorded_singleton", "cleanup_class", "skip_reason",
	}
	for _, k := range want {
		if _, ok := m[k]; !ok {
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			t.Errorf("key %q missing; have %v", k, keys)
		}
	}
	if m["pid"] != nil || m["daemon_family"] != nil || m["skip_reason"] != "not_spec_kitty" {
		t.Errorf("unknown values must be null: %s", b)
	}
}
