#!/usr/bin/env bash
# The Wine tier (SPEC §8 "Run, not only built"): the Windows build of
# spec-kitty run end to end on Linux under Wine, in a fresh prefix, and the
# Windows unit-test binaries of the packages with Windows code run there too.
#
# Run by scripts/test.sh. Without Wine it prints a skip line, except under
# CI=true, where a missing Wine, mingw, jq, curl or python3 fails the run
# (.ci/run installs them). Every check below can fail; the first failure
# ends the run with its reason and exit status 1.
#
# It holds the live tests' port lock for the whole run, starts its daemons
# in its own WINEPREFIX (a temp dir), and stops only what it started: its
# daemons through `sync stop` (the authenticated shutdown), the Linux
# bystander by pid, and at the end the wineserver of its own prefix
# (`wineserver -k` under that WINEPREFIX).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

skip_or_fail() {
  if [ "${CI:-}" = true ]; then
    echo "wine tier: FAIL: $1 (CI=true: .ci/run installs wine, wine64, gcc-mingw-w64-x86-64-win32, jq, curl)" >&2
    exit 1
  fi
  echo "== wine tier: skipped: $1"
  exit 0
}

wine=$(command -v wine64 || command -v wine || true)
[ -z "$wine" ] && [ -x /usr/lib/wine/wine64 ] && wine=/usr/lib/wine/wine64
[ -n "$wine" ] || skip_or_fail "no wine64 or wine on PATH"
wineserver=$(command -v wineserver || true)
[ -z "$wineserver" ] && [ -x /usr/lib/wine/wineserver ] && wineserver=/usr/lib/wine/wineserver
[ -n "$wineserver" ] || skip_or_fail "no wineserver"
for prog in x86_64-w64-mingw32-gcc jq curl python3 flock; do
  command -v "$prog" >/dev/null 2>&1 || skip_or_fail "no $prog"
done

# The whole run holds the live tests' port lock; -o keeps the lock's
# descriptor out of every child, so a lingering Wine process never holds it.
lock="${TMPDIR:-/tmp}/spec-kitty-live-ports.lock"
if [ -z "${SK_WINE_TIER_LOCKED:-}" ]; then
  exec env SK_WINE_TIER_LOCKED=1 flock -o "$lock" "$0" "$@"
fi

started=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/spec-kitty-wine.XXXXXX")
export WINEPREFIX="$work/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
export WINEARCH=win64
unset SPEC_KITTY_HOME SPEC_KITTY_CLI_VERSION SPEC_KITTY_DAEMON_TICK_SECONDS SPEC_KITTY_IDLE_RETIREMENT_SECONDS
exe="$work/spec-kitty.exe"
bystander_pid=""
follow_pid=""
other_home=""

# shellcheck disable=SC2329 # called by the trap
cleanup() {
  status=$?
  set +e
  if [ -f "$exe" ] && [ -d "$WINEPREFIX" ]; then
    "$wine" "$exe" sync stop >/dev/null 2>&1
    [ -n "$other_home" ] && SPEC_KITTY_HOME="$other_home" "$wine" "$exe" sync stop >/dev/null 2>&1
  fi
  [ -n "$bystander_pid" ] && kill "$bystander_pid" 2>/dev/null && wait "$bystander_pid" 2>/dev/null
  [ -n "$follow_pid" ] && kill "$follow_pid" 2>/dev/null && wait "$follow_pid" 2>/dev/null
  # Only this prefix's wineserver: every Windows process left in it.
  [ -d "$WINEPREFIX" ] && WINEPREFIX="$WINEPREFIX" "$wineserver" -k 2>/dev/null
  WINEPREFIX="$WINEPREFIX" "$wineserver" -w 2>/dev/null
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

fail() { echo "wine tier: FAIL: $*" >&2; exit 1; }
ok() { echo "  ok   $*"; }
step() { echo "-- $*"; }

# sk runs the Windows CLI under Wine; its stdout is the CLI's stdout.
sk() { "$wine" "$exe" "$@"; }

# health prints the health JSON of a loopback port, or fails.
health() { curl -fsS --max-time 3 "http://127.0.0.1:$1/api/health"; }

# port_closed succeeds when nothing accepts on the port.
port_closed() { ! curl -sS --max-time 3 -o /dev/null "http://127.0.0.1:$1/" 2>/dev/null; }

# wait_for CMD...: retries a check for up to 30 s.
wait_for() {
  for _ in $(seq 1 60); do "$@" 2>/dev/null && return 0; sleep 0.5; done
  return 1
}

# free_port LO HI: the first port of [LO, HI] nothing listens on and no
# daemon of this run was started on.
used_ports=""
free_port() {
  for p in $(seq "$1" "$2"); do
    case " $used_ports " in *" $p "*) continue ;; esac
    if python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' "$p" 2>/dev/null; then
      used_ports="$used_ports $p"; echo "$p"; return 0
    fi
  done
  fail "no free port in $1-$2"
}

# stale_daemon VERSION PORT: a daemon of another version started by hand
# beside the recorded one, as an older CLI left it: same scope marker, its
# own token (stdin is empty), its own per-instance record. Its tick is an
# hour: a daemon beside a live recorded one retires itself as superseded at
# its first tick, and the cleanup, not that, is under test here.
stale_daemon() {
  SPEC_KITTY_CLI_VERSION="$1" SPEC_KITTY_DAEMON_TICK_SECONDS=3600 "$wine" "$exe" __sync-daemon --port="$2" \
    --spec-kitty-daemon-root="$scope" --spec-kitty-daemon-exec='C:\old\spec-kitty.exe' \
    </dev/null >>"$work/stale.out" 2>&1 &
  wait_for health "$2" >/dev/null || fail "stale daemon $1 on port $2 never answered health"
  [ "$(health "$2" | jq -r .package_version)" = "$1" ] || fail "port $2 does not report version $1"
}

echo "== wine tier ($("$wine" --version 2>/dev/null), prefix $WINEPREFIX)"
step "build"
CGO_ENABLED=0 GOOS=windows GOARCH=amd64 go build -o "$exe" ./cmd/spec-kitty
x86_64-w64-mingw32-gcc -shared -O2 -o "$work/bcryptprimitives.dll" \
  test/wine/shim/bcryptprimitives.c test/wine/shim/bcryptprimitives.def -ladvapi32
wineboot -i >"$work/wineboot.log" 2>&1 || { cat "$work/wineboot.log" >&2; fail "wineboot -i"; }
# Go's runtime (1.22+) imports ProcessPrng from bcryptprimitives.dll; Wine 8 has none.
cp "$work/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
ok "exe built, prefix made, shim installed ($(( $(date +%s) - started )) s)"

# unix_path maps a C:\ path to the file Wine keeps for it in the prefix.
unix_path() {
  local p="${1//\\//}"
  case "$p" in C:/* | c:/*) echo "$WINEPREFIX/drive_c/${p:3}" ;; *) fail "not a C: path: $1" ;; esac
}

# pad_log pads the log with whole JSON lines to 40 bytes short of the
# rotation size, so the next daemon's first line must rotate it.
pad_log() {
  python3 - "$log" <<'EOF'
import json, sys
path, limit = sys.argv[1], (5 << 20) - 40
def line(n):  # one JSON line of exactly n bytes
    base = json.dumps({"msg": "pad", "pad": ""})
    return base[:-2] + "x" * (n - len(base) - 1) + '"}' + "\n"
with open(path, "a") as f:
    size = f.tell()
    while limit - size > 2000:
        f.write(line(1000)); size += 1000
    f.write(line(limit - size))
EOF
}

step "version and the doctor's platform block"
v=$(sk --version) || fail "--version exited $?"
[[ "$v" == "spec-kitty "* ]] || fail "--version printed '$v'"
ok "--version: $v"
sk auth doctor --json >"$work/doctor.json" || fail "auth doctor --json exited $?"
[ "$(jq -r .platform.os "$work/doctor.json")" = windows ] || fail "platform.os is $(jq -c .platform "$work/doctor.json")"
[ "$(jq -r .platform.listener_source "$work/doctor.json")" = iphlpapi ] || fail "listener_source is $(jq -c .platform "$work/doctor.json")"
auth_root=$(jq -r .auth_root "$work/doctor.json")
[[ "$auth_root" == *'\AppData\Local\spec-kitty' ]] || fail "auth_root is $auth_root, not under %LOCALAPPDATA%"
ok "platform: $(jq -c .platform "$work/doctor.json"), root $auth_root"
wuser=$(basename "$(dirname "$(dirname "$(dirname "${auth_root//\\//}")")")")
root_unix=$(unix_path "$auth_root")

step "sync start (detached), reuse, status, logs"
sk sync start --json >"$work/start.json" || fail "sync start exited $?"
[ "$(jq -r .started "$work/start.json")" = true ] || fail "sync start did not start: $(cat "$work/start.json")"
pid=$(jq -r .pid "$work/start.json"); port=$(jq -r .port "$work/start.json")
{ [ "$port" -ge 9400 ] && [ "$port" -le 9449 ]; } || fail "port $port outside 9400-9449"
used_ports="$used_ports $port"
# The CLI has exited; the daemon must still answer, as the pid it reported.
h=$(health "$port") || fail "the daemon on $port died with the CLI that started it"
[ "$(jq -r .owner.pid <<<"$h")" = "$pid" ] || fail "health on $port names pid $(jq -r .owner.pid <<<"$h"), start said $pid"
scope=$(jq -r .singleton_scope_id <<<"$h")
ok "started pid $pid on $port, still up after the CLI exited (scope $scope)"
sk sync start --json >"$work/reuse.json" || fail "second sync start exited $?"
[ "$(jq -r '.reused and (.started|not)' "$work/reuse.json")" = true ] || fail "second start did not reuse: $(cat "$work/reuse.json")"
[ "$(jq -r .pid "$work/reuse.json")" = "$pid" ] || fail "reuse named pid $(jq -r .pid "$work/reuse.json"), not $pid"
ok "second start reused pid $pid"
sk sync status --json >"$work/status.json" || fail "sync status exited $?"
[ "$(jq -r '.healthy and .pid == '"$pid"' and .port == '"$port" "$work/status.json")" = true ] ||
  fail "status: $(cat "$work/status.json")"
sk sync status | grep -q "sync daemon: healthy, pid $pid" || fail "human status does not name pid $pid"
log=$(unix_path "$(jq -r .log_path "$work/status.json")")
[ -s "$log" ] || fail "no daemon log at $log"
ok "status: healthy, pid $pid"
sk sync logs -n 20 >"$work/logs.out" || fail "sync logs exited $?"
grep -q '"msg":"sync daemon started"' "$work/logs.out" || fail "sync logs has no start line: $(cat "$work/logs.out")"
ok "logs show the daemon's start line"

step "three stale versions and a cross-root daemon beside a Linux bystander, then --reset"
stale_ports=""
for ver in 3.2.2 3.2.3 3.2.4; do
  p=$(free_port 9400 9449); stale_daemon "$ver" "$p"; stale_ports="$stale_ports $p"
done
other_home="C:\\users\\$wuser\\AppData\\Local\\spec-kitty-other"
SPEC_KITTY_HOME="$other_home" sk sync start --json >"$work/other.json" || fail "cross-root sync start exited $?"
other_port=$(jq -r .port "$work/other.json"); other_pid=$(jq -r .pid "$work/other.json")
used_ports="$used_ports $other_port"
bport=$(free_port 9400 9449)
python3 -m http.server "$bport" --bind 127.0.0.1 >/dev/null 2>&1 &
bystander_pid=$!
wait_for curl -fsS -o /dev/null --max-time 3 "http://127.0.0.1:$bport/" || fail "bystander on $bport never answered"
ok "stale on$stale_ports, cross-root pid $other_pid on $other_port, bystander pid $bystander_pid on $bport"
sk auth doctor --reset --json >"$work/reset.json" || fail "auth doctor --reset exited $?: $(cat "$work/reset.json")"
swept=$(jq -r '[.reset_result.swept[].port] | sort | map(tostring) | join(" ")' "$work/reset.json")
want=$(tr ' ' '\n' <<<"$stale_ports" | grep . | sort -n | paste -sd' ')
[ "$swept" = "$want" ] || fail "--reset swept ports '$swept', want the stale '$want': $(jq -c .reset_result "$work/reset.json")"
for p in $stale_ports; do
  wait_for port_closed "$p" || fail "stale daemon on $p still answers after --reset"
done
[ "$(jq -r '[.reset_result.failed[]] | length' "$work/reset.json")" = 0 ] || fail "--reset failed entries: $(jq -c .reset_result.failed "$work/reset.json")"
[ "$(health "$port" | jq -r .owner.pid)" = "$pid" ] || fail "--reset touched the recorded daemon on $port"
[ "$(health "$other_port" | jq -r .owner.pid)" = "$other_pid" ] || fail "--reset touched the cross-root daemon on $other_port"
kill -0 "$bystander_pid" 2>/dev/null || fail "--reset killed the Linux bystander"
curl -fsS -o /dev/null --max-time 3 "http://127.0.0.1:$bport/" || fail "the bystander on $bport stopped answering"
ok "swept$stale_ports by $(jq -r '[.reset_result.swept[].cleanup_path] | unique | join(",")' "$work/reset.json"); recorded, cross-root and bystander untouched"
journal="$root_unix/cleanup-journal.jsonl"
[ -s "$journal" ] || fail "no cleanup journal at $journal"
jq -e -s 'all(.[]; .port >= 9400 and .port <= 9449 and .family == "sync")' "$journal" >/dev/null ||
  fail "journal has a line outside the sync range: $(cat "$journal")"
for p in $stale_ports; do
  jq -e -s --argjson p "$p" 'any(.[]; .port == $p)' "$journal" >/dev/null || fail "journal has no line for port $p"
done
ok "journal: $(wc -l <"$journal") line(s), all sync, all in 9400-9449"
SPEC_KITTY_HOME="$other_home" sk sync stop >/dev/null || fail "cross-root sync stop exited $?"
wait_for port_closed "$other_port" || fail "cross-root daemon on $other_port did not stop"
kill "$bystander_pid"; wait "$bystander_pid" 2>/dev/null || true; bystander_pid=""

step "the startup reaper"
sk sync stop >/dev/null || fail "sync stop exited $?"
wait_for port_closed "$port" || fail "sync stop left $port answering"
ok "stopped pid $pid"
reap_port=$(free_port 9401 9449)
stale_daemon 3.2.2 "$reap_port"
sk sync start --json >"$work/reap.json" || fail "sync start (reaper) exited $?"
jq -e --argjson p "$reap_port" '.started and any(.reaped[]; .port == $p)' "$work/reap.json" >/dev/null ||
  fail "sync start did not reap the 3.2.2 daemon on $reap_port: $(cat "$work/reap.json")"
wait_for port_closed "$reap_port" || fail "reaped daemon on $reap_port still answers"
pid=$(jq -r .pid "$work/reap.json"); port=$(jq -r .port "$work/reap.json")
ok "sync start reaped 3.2.2 on $reap_port and started pid $pid on $port"

step "log rotation of a spawned daemon"
sk sync stop >/dev/null || fail "sync stop exited $?"
wait_for port_closed "$port" || fail "sync stop left $port answering"
rm -f "$log.1" "$log.2"
pad_log
padded=$(stat -c %s "$log")
sk sync start --json >"$work/rot.json" || fail "sync start (rotation) exited $?"
port=$(jq -r .port "$work/rot.json"); pid=$(jq -r .pid "$work/rot.json")
sk sync status --json >"$work/rot-status.json" || fail "sync status exited $?"
size=$(stat -c %s "$log")
[ -f "$log.1" ] || fail "no $log.1: the spawned daemon did not rotate (log $padded -> $size bytes; status log_rotation_error: $(jq -c .log_rotation_error "$work/rot-status.json"))"
[ "$size" -lt "$padded" ] || fail "the log grew to $size bytes after rotation"
grep -q '"msg":"sync daemon started"' "$log" || fail "the fresh log has no start line"
[ "$(jq -r .log_rotation_error "$work/rot-status.json")" = null ] || fail "status reports a rotation error: $(jq -c .log_rotation_error "$work/rot-status.json")"
! grep -q '"msg":"log rotation failed' "$log" || fail "the log records a failed rotation"
ok "log rotated to .1 ($(stat -c %s "$log.1") bytes), fresh log $size bytes, no rotation error in status"

step "a rotation that fails is logged once and shown by sync status"
sk sync stop >/dev/null || fail "sync stop exited $?"
wait_for port_closed "$port" || fail "sync stop left $port answering"
# `sync logs -f` holds the log open the way Go opens files on Windows:
# without FILE_SHARE_DELETE, so no other process can rename it meanwhile.
"$wine" "$exe" sync logs -f -n 0 >"$work/follow.out" 2>&1 &
follow_pid=$!
# It has the file open once it prints a line appended after its start.
for i in $(seq 1 30); do
  echo '{"msg":"wine tier follow marker '"$i"'"}' >>"$log"
  grep -q 'follow marker' "$work/follow.out" && break
  sleep 1
done
grep -q 'follow marker' "$work/follow.out" || fail "sync logs -f never printed an appended line"
pad_log
sk sync start --json >"$work/held.json" || fail "sync start (held log) exited $?"
port=$(jq -r .port "$work/held.json")
sk sync status --json >"$work/held-status.json" || fail "sync status exited $?"
why=$(jq -r .log_rotation_error "$work/held-status.json")
[ "$why" != null ] || fail "the rotation blocked by an open handle is not in sync status --json (log $(stat -c %s "$log") bytes)"
sk sync status | grep -qF "log rotation failed: $why" || fail "human sync status does not show the rotation error"
sk sync logs -n 5 >/dev/null || fail "sync logs exited $?"
n=$(grep -c '"msg":"log rotation failed' "$log" || true)
[ "$n" = 1 ] || fail "the log records the failed rotation $n times, want once"
kill "$follow_pid"; wait "$follow_pid" 2>/dev/null || true; follow_pid=""
ok "held log: rotation failed, logged once, shown by status: $why"

step "idle retirement"
sk sync stop >/dev/null || fail "sync stop exited $?"
wait_for port_closed "$port" || fail "sync stop left $port answering"
SPEC_KITTY_DAEMON_TICK_SECONDS=1 SPEC_KITTY_IDLE_RETIREMENT_SECONDS=2 sk sync start --json >"$work/idle.json" ||
  fail "sync start (idle) exited $?"
port=$(jq -r .port "$work/idle.json")
health "$port" >/dev/null || fail "idle daemon on $port not up"
wait_for port_closed "$port" || fail "the daemon on $port did not retire when idle"
wait_for test ! -e "$root_unix/daemons/$port.json" || fail "retired daemon left daemons/$port.json"
ok "daemon on $port retired when idle and removed its record"

step "Windows unit tests under Wine"
# Packages with Windows-specific code: their test binaries run for real,
# each from its package folder (testdata). Tests that assume a Unix host
# are skipped by name, with the reason printed; judge.py passes a package
# only when every failure is Wine 8's missing RemoveAll call (t.TempDir).
declare -A skip=(
  [paths]='^(TestRootHonoursSpecKittyHome|TestScopeIDCreatesAFreshRoot|TestScopeIDResolvesSymlinks)$'
  [probe]='^TestScan_HostileListenersAreBoundedByOneTimeout$'
)
declare -A why=(
  [paths]='expect the Unix default root ($HOME/.spec-kitty), Unix mode 0700, and a symlink EvalSymlinks resolves (Wine: os.Symlink makes none it follows)'
  [probe]='a timed assertion (under 900 ms); Wine on a loaded machine is no clock'
)
for pkg in logfile spawn paths procinfo probe cleanup; do
  CGO_ENABLED=0 GOOS=windows GOARCH=amd64 go test -c -o "$work/$pkg.test.exe" "./internal/$pkg"
  args=(-test.count=1 -test.timeout=120s -test.v=test2json)
  if [ -n "${skip[$pkg]:-}" ]; then
    args+=(-test.skip "${skip[$pkg]}")
    echo "  skip internal/$pkg ${skip[$pkg]}: ${why[$pkg]}"
  fi
  set +e
  (cd "$repo/internal/$pkg" && "$wine" "$work/$pkg.test.exe" "${args[@]}") 2>&1 | go tool test2json -p "$pkg" >"$work/$pkg.json"
  status=${PIPESTATUS[0]}
  set -e
  verdict=$(python3 test/wine/judge.py "$pkg" "$status" <"$work/$pkg.json") || { echo "$verdict" >&2; fail "internal/$pkg tests failed under Wine"; }
  ok "$verdict"
done

echo "-- what Wine cannot prove"
echo "  Wine's TCP table reports owner pid 0 for every listener, so every cleanup"
echo "  above went by token proof and graceful shutdown; the pid path (process"
echo "  handle held from check to TerminateProcess, creation time, owner SID) is"
echo "  proved only by unit tests with fakes. Wine keeps no real ACLs, so the"
echo "  trust check's security descriptors are proved by fakes too; a first run"
echo "  on a real Windows machine is still owed."
echo "== wine tier: PASS ($(( $(date +%s) - started )) s)"
