#!/usr/bin/env bash
# Reproduces the figures of BENCHMARKS.md with public tools: the Go benchmark
# harness (go test -bench) for in-process measurements, hyperfine for whole
# CLI processes, and /proc for the idle daemon's memory and wakeups.
#
#   ./scripts/bench.sh            # everything, results in a fresh temp dir
#   BENCH_OUT=dir ./scripts/bench.sh
#   BENCH_GO=0 ./scripts/bench.sh  # whole processes only, no go test -bench
#
# Needs: go, hyperfine (Debian: apt-get install -y hyperfine), jq, curl,
# flock and setsid (util-linux). Linux only.
#
# It binds ports only in the reserved sync range [9400, 9450): the Go
# benchmarks through the live-test harness (internal/testenv), the shell part
# by starting daemons on free ports of that range. It never runs at the same
# time as a live test: the Go part takes the machine-wide port lock through
# testenv.Main, and the shell part runs under the same lock
# ($TMPDIR/spec-kitty-live-ports.lock, flock). Every process it starts is
# recorded by PID and killed by PID when it ends, however it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LOCK="${TMPDIR:-/tmp}/spec-kitty-live-ports.lock"

# Iterations. The Go counts are fixed (-benchtime Nx) so runs compare.
GO_SCAN_N=${GO_SCAN_N:-100}      # scans with 0, 18 and 50 daemons
GO_WEDGED_N=${GO_WEDGED_N:-10}   # all-wedged scans (each ~ one timeout)
GO_RESET_N=${GO_RESET_N:-10}     # resets of 18 (each respawns 18 daemons)
GO_SPAWN_N=${GO_SPAWN_N:-30}     # spawns to healthy
HF_RUNS=${HF_RUNS:-50}           # hyperfine runs of fast commands
HF_SLOW_RUNS=${HF_SLOW_RUNS:-10} # hyperfine runs of wedged scans and spawns
IDLE_SETTLE=${IDLE_SETTLE:-5}    # seconds before reading an idle daemon
IDLE_WINDOW=${IDLE_WINDOW:-10}   # seconds of one wakeup window
IDLE_WINDOWS=${IDLE_WINDOWS:-6}  # windows: 60 s spans two 30 s retirement ticks
BYSTANDERS=${BYSTANDERS:-2000}   # unrelated processes for the busy-machine scan
FLOOR_ROUNDS=${FLOOR_ROUNDS:-3}  # alternating doctor/floor blocks of HF_RUNS each
LOAD_N=${LOAD_N:-1000}           # health requests before the after-load memory figure
AFTER_LOAD=${AFTER_LOAD:-10}     # seconds between the load and that figure
IDLE30_ROUNDS=${IDLE30_ROUNDS:-3} # rounds of hot reuse / reuse after 30 s quiet
IDLE30_RUNS=${IDLE30_RUNS:-2}    # reuses after 30 s quiet per round (each waits 30 s)
FAULT_RUNS=${FAULT_RUNS:-20}     # runs per command for page faults and peak RSS

# cleanup kills, by PID, every process phase2 started: the daemons it
# spawned (only while they still carry this run's work dir in argv, so a
# recycled PID is left alone), its sleep children, and the daemons that
# `sync start` spawned for its scopes.
cleanup() {
  set +e
  exec 2>/dev/null # no job-status noise for the processes killed here
  local p d
  for p in "${PIDS[@]}"; do
    if grep -qa -- "$work" "/proc/$p/cmdline" 2>/dev/null; then
      kill -CONT "$p" 2>/dev/null
      kill -KILL "$p" 2>/dev/null
    fi
  done
  for p in "${SLEEPS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  for d in "$idle" "$scope"; do
    for p in $(pgrep -f -- "--spec-kitty-daemon-root=$d( |$)"); do
      kill -CONT "$p" 2>/dev/null
      kill -KILL "$p" 2>/dev/null
    done
  done
  rm -rf "$work"
}

phase2() {
  out=$1
  bin=$out/bin/spec-kitty
  export PATH="$out/bin:$PATH"
  unset SPEC_KITTY_HOME SPEC_KITTY_CLI_VERSION SPEC_KITTY_DAEMON_TICK_SECONDS SPEC_KITTY_IDLE_RETIREMENT_SECONDS SPEC_KITTY_SYNC_DISABLE
  # Globals, so the EXIT trap still sees them after phase2 returns.
  work=$(realpath "$(mktemp -d "${TMPDIR:-/tmp}/spec-kitty-bench.XXXXXX")")
  scope=$work/scope idle=$work/idle
  mkdir -p "$scope" "$idle"
  PIDS=()   # daemons this script started
  SLEEPS=() # bystander processes
  trap cleanup EXIT
  trap 'exit 130' INT TERM

  listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
  free_ports() {
    local p
    for p in $(seq 9400 9449); do listening "$p" || echo "$p"; done
  }
  healthy() {
    curl -fsS --max-time 1 "http://127.0.0.1:$1/api/health" 2>/dev/null | jq -e --argjson pid "$2" '.owner.pid == $pid' >/dev/null 2>&1
  }
  # spawn PORT VERSION: a stale daemon of $scope in the production shape,
  # as a 3.2.x CLI left it; it makes its own token (none on stdin).
  spawn() {
    local port=$1 ver=$2 i
    SPEC_KITTY_HOME=$scope SPEC_KITTY_CLI_VERSION=$ver SPEC_KITTY_DAEMON_TICK_SECONDS=3600 \
      setsid "$bin" __sync-daemon "--port=$port" "--spec-kitty-daemon-root=$scope" \
      "--spec-kitty-daemon-exec=/opt/spec-kitty/$ver/bin/spec-kitty" </dev/null >>"$work/daemons.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    for i in $(seq 1 500); do
      healthy "$port" "$pid" && return 0
      sleep 0.01
    done
    echo "bench: daemon on port $port never became healthy" >&2
    return 1
  }
  spawn_n() {
    local n=$1 i=0 v=(3.2.2 3.2.3 3.2.4) p
    for p in $(free_ports); do
      [ "$i" -ge "$n" ] && break
      spawn "$p" "${v[$((i % 3))]}"
      i=$((i + 1))
    done
    [ "$i" -eq "$n" ] || echo "bench: only $i of $n ports were free" >&2
  }
  orphans() { SPEC_KITTY_HOME=$1 "$bin" auth doctor --json | jq '.orphans | length'; }
  hf() { # name runs command...
    local name=$1 runs=$2; shift 2
    hyperfine -N --style none --warmup 3 --runs "$runs" --export-json "$out/hf-$name.json" "$@" >/dev/null 2>>"$out/hyperfine.log"
    echo "  $name: $(jq -r '.results[0] | "median \(.median*1000|.*100|round/100) ms, min \(.min*1000|.*100|round/100), max \(.max*1000|.*100|round/100)"' "$out/hf-$name.json")"
  }

  # rounds NAME PREPARES -- CMDS: $FLOOR_ROUNDS rounds of one block of
  # $HF_RUNS runs per command, in one hyperfine invocation, so that every
  # command sees the same load; PREPARES is one --prepare per command
  # ("true" for none). Names are <cmd>-<round>; the summary
  # pools all rounds of each command.
  rounds() {
    local name=$1 r i args=(); shift
    local -a prep=() names=() cmds=()
    while [ "$1" != -- ]; do prep+=("$1"); shift; done
    shift
    while [ $# -gt 0 ]; do names+=("$1"); cmds+=("$2"); shift 2; done
    for r in $(seq 1 "$FLOOR_ROUNDS"); do
      for i in "${!cmds[@]}"; do
        args+=(--prepare "${prep[$i]}" -n "${names[$i]}-$r" "${cmds[$i]}")
      done
    done
    hyperfine -N --style none --warmup 3 --runs "$HF_RUNS" --export-json "$out/hf-$name.json" "${args[@]}" >/dev/null 2>>"$out/hyperfine.log"
    jq -r '.results[] | "  \(.command): median \(.median * 1000 * 100 | round / 100) ms"' "$out/hf-$name.json" | paste -sd' ' | sed "s/^/  $name:/"
  }
  # faults NAME CMD...: minor page faults (median) and peak RSS (max) of
  # $FAULT_RUNS whole runs, from GNU time (the kernel's rusage).
  faults() {
    local name=$1 i; shift
    for i in $(seq 1 "$FAULT_RUNS"); do
      /usr/bin/time -f "%R %M" -o "$work/rusage.$i" "$@" >/dev/null 2>&1 || true
    done
    cat "$work"/rusage.* | sort -n | awk -v n="$name" '{f[NR] = $1; if ($2 > m) m = $2}
      END {printf "| %s | %d | %d |\n", n, f[int((NR + 1) / 2)], m}' | tee -a "$out/faults.md"
    rm -f "$work"/rusage.*
  }
  # Logged in / logged out of $scope without touching the session: auth/
  # is moved aside and back (prepare steps, not measured).
  printf '#!/bin/sh\n[ -d "%s/auth" ] && mv "%s/auth" "%s/auth.off"; exit 0\n' "$scope" "$scope" "$scope" >"$work/auth-off"
  printf '#!/bin/sh\n[ -d "%s/auth.off" ] && mv "%s/auth.off" "%s/auth"; exit 0\n' "$scope" "$scope" "$scope" >"$work/auth-on"
  chmod +x "$work/auth-off" "$work/auth-on"
  echo "| command | minor page faults (median) | peak RSS kB (max) |" >"$out/faults.md"
  echo "|---|---|---|" >>"$out/faults.md"

  echo "== whole-process measurements (hyperfine), free sync ports: $(free_ports | wc -l)/50"

  # Baseline: the cheapest whole process of this binary.
  hf version "$HF_RUNS" "$bin version"
  # ... and against a static Go hello that links net/http (bench/hello).
  rounds version-hello true true -- version "$bin version" hello "$out/bin/hello"
  faults "hello (bench/hello)" "$out/bin/hello"
  faults "spec-kitty version" "$bin" version

  # Reuse path: a healthy recorded daemon of this version, then `sync start`.
  SPEC_KITTY_HOME=$idle "$bin" sync start >/dev/null 2>&1
  SPEC_KITTY_HOME=$idle hf reuse "$HF_RUNS" "$bin sync start"
  # The same against a daemon that has been quiet long enough to give its
  # memory back (syncd's trim after 2 s): the first request pages it in.
  SPEC_KITTY_HOME=$idle hf reuse-quiet "$HF_SLOW_RUNS" --prepare "sleep 2.5" "$bin sync start"
  # Hot reuse against version, and reuse after 30 s of quiet (how users come
  # back), in alternating rounds: each round a block of version and hot
  # reuse, then $IDLE30_RUNS reuses that each follow 30 s of quiet.
  local q
  for q in $(seq 1 "$IDLE30_ROUNDS"); do
    SPEC_KITTY_HOME=$idle hyperfine -N --style none --warmup 3 --runs "$HF_RUNS" --export-json "$out/hf-reusepair-$q.json" \
      -n version "$bin version" -n reuse-hot "$bin sync start" >/dev/null 2>>"$out/hyperfine.log"
    SPEC_KITTY_HOME=$idle hyperfine -N --style none --runs "$IDLE30_RUNS" --prepare "sleep 30" --export-json "$out/hf-reuse30-$q.json" \
      -n reuse-idle30 "$bin sync start" >/dev/null 2>>"$out/hyperfine.log"
  done
  jq -s -r '[.[] | .results[]] | group_by(.command)[] | "  \(.[0].command) (pooled): median \([.[].times[]] | sort | .[length / 2 | floor] * 1000 * 100 | round / 100) ms"' \
    "$out"/hf-reusepair-*.json "$out"/hf-reuse30-*.json
  SPEC_KITTY_HOME=$idle faults "sync start, reusing a healthy daemon" "$bin" sync start

  # Idle daemon: RSS and private memory after it settles, context switches
  # of all its threads and CPU ticks over consecutive windows; then the same
  # memory figures right after $LOAD_N health requests (fresh connections,
  # 4 at a time) and $AFTER_LOAD seconds later.
  local ipid iport
  ipid=$(SPEC_KITTY_HOME=$idle "$bin" sync status --json | jq -r .pid)
  iport=$(SPEC_KITTY_HOME=$idle "$bin" sync status --json | jq -r .port)
  sleep "$IDLE_SETTLE"
  ctxsw() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/_ctxt_switches/ {s += $2} END {print s}'; }
  cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
  # mem PID LABEL: "LABEL: rss N kB, private N kB, anon N kB" (smaps_rollup:
  # private = Private_Clean + Private_Dirty; anon = AnonHugePages excluded).
  mem() {
    echo "$2: rss $(awk '/^VmRSS/ {print $2}' "/proc/$1/status") kB, private $(awk '/^Private_(Clean|Dirty):/ {s += $2} END {print s}' "/proc/$1/smaps_rollup") kB, anon $(awk '/^Anonymous:/ {print $2}' "/proc/$1/smaps_rollup") kB"
  }
  {
    echo "pid $ipid"
    grep -E '^(VmHWM|Threads)' "/proc/$ipid/status"
    mem "$ipid" "idle ${IDLE_SETTLE}s"
    for w in $(seq 1 "$IDLE_WINDOWS"); do
      local c0 t0 c1 t1
      c0=$(ctxsw "$ipid"); t0=$(cputicks "$ipid")
      sleep "$IDLE_WINDOW"
      c1=$(ctxsw "$ipid"); t1=$(cputicks "$ipid")
      echo "window $w: $((c1 - c0)) context switches, $((t1 - t0)) CPU ticks in ${IDLE_WINDOW}s"
    done
    mem "$ipid" "idle $((IDLE_SETTLE + IDLE_WINDOW * IDLE_WINDOWS))s"
    "$out/bin/healthload" -port "$iport" -n "$LOAD_N"
    mem "$ipid" "after $LOAD_N health requests"
    sleep "$AFTER_LOAD"
    mem "$ipid" "${AFTER_LOAD}s after the load"
  } | tee "$out/idle.txt" | sed 's/^/  idle: /'
  SPEC_KITTY_HOME=$idle "$bin" sync stop >/dev/null 2>&1 || true

  # Spawn path: `sync start` in a scope with no daemon (reaper scan, spawn,
  # wait until healthy, state file), the daemon stopped between runs.
  SPEC_KITTY_HOME=$idle hf spawn "$HF_SLOW_RUNS" --prepare "$bin sync stop" "$bin sync start"
  SPEC_KITTY_HOME=$idle "$bin" sync stop >/dev/null 2>&1 || true

  # Scans: `auth doctor --json` with 0, 18 and 50 live daemons.
  SPEC_KITTY_HOME=$scope hf doctor-0 "$HF_RUNS" "$bin auth doctor --json"
  spawn_n 18
  echo "  (18 daemons: $(orphans "$scope") orphans of the scope)"
  SPEC_KITTY_HOME=$scope hf doctor-18 "$HF_RUNS" "$bin auth doctor --json"
  # The same through the macOS listener source, lsof alone, and no source
  # at all (the 18 are then recognised by token proof).
  SPEC_KITTY_HOME=$scope SPEC_KITTY_LISTENER_SOURCE=lsof hf doctor-18-lsof "$HF_RUNS" "$bin auth doctor --json"
  hf lsof-18 "$HF_RUNS" "lsof -nP -iTCP:9400-9449 -sTCP:LISTEN -F pcn"
  SPEC_KITTY_HOME=$scope SPEC_KITTY_LISTENER_SOURCE=none hf doctor-18-none "$HF_RUNS" "$bin auth doctor --json"

  # The floor (bench/floor): the least real work for the same answer, in
  # alternating blocks with the real command, so both see the same load.
  # Logged in as well: a token login stored in the scope (no server is
  # contacted), then rounds of doctor logged out, the floor, and doctor
  # logged in (auth/ moved aside and back between blocks). Logged in, with
  # no recorded daemon here, the login is read from the hot-path file,
  # which a decryption refreshes at most every 30 s.
  printf 'bench-token\n' | SPEC_KITTY_HOME=$scope "$bin" auth login --with-token --server http://127.0.0.1:9 \
    --email bench@example.com --team bench --expires-in 24h >/dev/null
  SPEC_KITTY_HOME=$scope rounds floor "$work/auth-off" true "$work/auth-on" -- \
    doctor "$bin auth doctor --json" floor "$out/bin/floor" login "$bin auth doctor --json"
  jq -r '[.results[] | .median] as $m | range(0; $m | length; 3) as $i
    | "  round \($i / 3 + 1): doctor \($m[$i] * 1000 * 100 | round / 100) ms, floor \($m[$i + 1] * 1000 * 100 | round / 100) ms, logged in \($m[$i + 2] * 1000 * 100 | round / 100) ms; ratios \($m[$i] / $m[$i + 1] * 100 | round / 100), \($m[$i + 2] / $m[$i + 1] * 100 | round / 100), in/out \($m[$i + 2] / $m[$i] * 100 | round / 100)"' "$out/hf-floor.json" | tee "$out/floor.txt"
  "$work/auth-off"
  SPEC_KITTY_HOME=$scope faults "auth doctor --json, 18 daemons, logged out" "$bin" auth doctor --json
  faults "bench/floor, 18 daemons" "$out/bin/floor"
  "$work/auth-on"
  SPEC_KITTY_HOME=$scope faults "auth doctor --json, 18 daemons, logged in" "$bin" auth doctor --json
  SPEC_KITTY_HOME=$scope SPEC_KITTY_DISABLE_SESSION_HOT_PATH=1 faults "the same, hot path disabled (key derived every run)" "$bin" auth doctor --json
  "$work/auth-off"

  # The same with $BYSTANDERS unrelated processes on the machine.
  local i
  for i in $(seq 1 "$BYSTANDERS"); do
    sleep 3600 &
    SLEEPS+=("$!")
  done
  echo "  ($BYSTANDERS sleep processes started; $(ls /proc | grep -c '^[0-9]') processes on the machine)"
  SPEC_KITTY_HOME=$scope hf doctor-18-busy "$HF_RUNS" "$bin auth doctor --json"
  kill -KILL "${SLEEPS[@]}" 2>/dev/null || true
  wait "${SLEEPS[@]}" 2>/dev/null || true
  SLEEPS=()

  spawn_n "$(free_ports | wc -l)"
  echo "  ($(orphans "$scope") orphans of the scope)"
  SPEC_KITTY_HOME=$scope hf doctor-50 "$HF_RUNS" "$bin auth doctor --json"

  # Every one of them wedged (SIGSTOP): one health timeout, not fifty.
  local p
  for p in "${PIDS[@]}"; do kill -STOP "$p"; done
  SPEC_KITTY_HOME=$scope hf doctor-wedged "$HF_SLOW_RUNS" "$bin auth doctor --json"
  for p in "${PIDS[@]}"; do kill -CONT "$p"; done
}

if [ "${1:-}" = "__locked" ]; then
  phase2 "$2"
  exit 0
fi

[ -x /usr/bin/time ] || { echo "bench: GNU time (/usr/bin/time) is not installed" >&2; exit 2; }
for tool in go hyperfine jq curl flock setsid; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is not installed" >&2; exit 2; }
done
OUT=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/spec-kitty-bench-out.XXXXXX")}
mkdir -p "$OUT/bin"
{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "go: $(go version)"
  echo "cpu: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "machine: $(systemd-detect-virt 2>/dev/null || echo "virtualisation unknown"), $(awk '/^MemTotal/ {print int($2 / 1024) " MiB"}' /proc/meminfo), kernel $(uname -r)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "uptime before: $(uptime)"
  echo "hyperfine: $(hyperfine --version)"
} | tee "$OUT/machine.txt"

CGO_ENABLED=0 go build -o "$OUT/bin/spec-kitty" ./cmd/spec-kitty
CGO_ENABLED=0 go build -o "$OUT/bin/floor" ./bench/floor
CGO_ENABLED=0 go build -o "$OUT/bin/healthload" ./bench/healthload
CGO_ENABLED=0 go build -o "$OUT/bin/hello" ./bench/hello

if [ "${BENCH_GO:-1}" = 0 ]; then
  echo "== in-process measurements skipped (BENCH_GO=0)"
  : >"$OUT/go-live.txt"
else
echo "== in-process measurements (go test -bench)"
go test -run '^$' -bench '^BenchmarkClassify$' -benchtime 10000x -count 5 ./internal/classify | tee "$OUT/go-classify.txt" | grep '^Benchmark'
go test -c -o "$OUT/live.test" ./test/live
gobench() { # pattern N
  # testenv.Main takes the port lock itself for each run. A failing
  # benchmark is reported and the rest still run.
  local log=$OUT/go-live.last
  if ! (cd "$ROOT/test/live" && "$OUT/live.test" -test.run '^$' -test.bench "$1" -test.benchtime "$2x" -test.count 1) \
    >"$log" 2>&1; then
    echo "bench: $1 failed; see $OUT/go-live.txt" | tee -a "$OUT/failures.txt" >&2
  fi
  cat "$log" >>"$OUT/go-live.txt"
  grep '^Benchmark' "$log" || true
  rm -f "$log"
}
: >"$OUT/go-live.txt"
gobench '^BenchmarkScan(Empty|18Daemons|50Daemons|BusyMachine)$' "$GO_SCAN_N"
gobench '^BenchmarkScanAllWedged$' "$GO_WEDGED_N"
gobench '^Benchmark(Reset18|ResetProcess18)$' "$GO_RESET_N"
gobench '^Benchmark(SpawnToHealthy|SyncStartReuse)$' "$GO_SPAWN_N"
fi

# summary prints every figure as a Markdown table: median, then min–max.
summary() {
  local out=$1 f
  echo "| measurement | method | runs | median | min – max |"
  echo "|---|---|---|---|---|"
  awk '/^Benchmark/ {
      name = $1; sub(/-[0-9]+$/, "", name); med = ""; lo = ""; hi = ""
      for (i = 3; i < NF; i++) {
        if ($(i+1) == "median-ms") med = $i
        if ($(i+1) == "min-ms") lo = $i
        if ($(i+1) == "max-ms") hi = $i
      }
      if (med != "") printf "| %s | go test -bench | %s | %.2f ms | %s – %.2f ms |\n", name, $2, med, (lo == "" ? "?" : sprintf("%.2f", lo)), hi
    }' "$out/go-live.txt"
  for f in "$out"/hf-*.json; do
    case "$(basename "$f")" in hf-floor.json | hf-version-hello.json | hf-reusepair-* | hf-reuse30-*) continue ;; esac
    jq -r --arg n "$(basename "$f" .json | sed 's/^hf-//')" '.results[0] |
      "| \($n) | hyperfine -N | \(.times | length) | \(.median * 1000 * 100 | round / 100) ms | \(.min * 1000 * 100 | round / 100) – \(.max * 1000 * 100 | round / 100) ms |"' "$f"
  done
  # pooled FILES... PREFIX: the median of every run of the commands named
  # PREFIX-<round> (or PREFIX) across the files, in ms.
  pooled() {
    local prefix=${*: -1}
    jq -s -r --arg p "$prefix" '[.[] | .results[] | select(.command == $p or (.command | startswith($p + "-"))) | .times[]]
      | sort | .[length / 2 | floor] * 1000' "${@:1:$#-1}"
  }
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
  ms() { awk -v a="$1" 'BEGIN {printf "%.2f ms", a}'; }
  if [ -s "$out/hf-floor.json" ]; then
    echo
    echo "| doctor/floor, 18 daemons (hyperfine -N, alternating blocks) | doctor logged out | floor | doctor logged in | out/floor | in/floor | in/out |"
    echo "|---|---|---|---|---|---|---|"
    jq -r '[.results[] | .median] as $m | range(0; $m | length; 3) as $i
      | "| round \($i / 3 + 1) | \($m[$i] * 1000 * 100 | round / 100) ms | \($m[$i + 1] * 1000 * 100 | round / 100) ms | \($m[$i + 2] * 1000 * 100 | round / 100) ms | \($m[$i] / $m[$i + 1] * 100 | round / 100) | \($m[$i + 2] / $m[$i + 1] * 100 | round / 100) | \($m[$i + 2] / $m[$i] * 100 | round / 100) |"' "$out/hf-floor.json"
    local d f l
    d=$(pooled "$out/hf-floor.json" doctor) f=$(pooled "$out/hf-floor.json" floor) l=$(pooled "$out/hf-floor.json" login)
    echo "| all rounds pooled | $(ms "$d") | $(ms "$f") | $(ms "$l") | $(ratio "$d" "$f") | $(ratio "$l" "$f") | $(ratio "$l" "$d") |"
  fi
  if [ -s "$out/hf-version-hello.json" ]; then
    local v h hot i30 v2
    v=$(pooled "$out/hf-version-hello.json" version) h=$(pooled "$out/hf-version-hello.json" hello)
    hot=$(pooled "$out"/hf-reusepair-*.json reuse-hot) v2=$(pooled "$out"/hf-reusepair-*.json version)
    i30=$(pooled "$out"/hf-reuse30-*.json reuse-idle30)
    echo
    echo "| as users run it (pooled medians, alternating blocks) | figure | baseline | ratio | target |"
    echo "|---|---|---|---|---|"
    echo "| \`version\` ÷ static hello linking net/http | $(ms "$v") | $(ms "$h") | $(ratio "$v" "$h") | ≤ 1.5 |"
    echo "| hot reuse (\`sync start\`) ÷ \`version\` | $(ms "$hot") | $(ms "$v2") | $(ratio "$hot" "$v2") | ≤ 1.25 |"
    echo "| reuse after 30 s quiet ÷ hot reuse | $(ms "$i30") | $(ms "$hot") | $(ratio "$i30" "$hot") | ≤ 1.1 |"
  fi
  if [ -s "$out/faults.md" ]; then
    echo
    cat "$out/faults.md"
  fi
  if [ -s "$out/idle.txt" ]; then
    echo
    echo "| daemon memory (/proc/<pid>/status VmRSS; /proc/<pid>/smaps_rollup) |"
    echo "|---|"
    grep -E 'kB|window' "$out/idle.txt" | sed 's/^/| /; s/$/ |/'
  fi
}

echo "== waiting for the port lock $LOCK"
# flock -o: the lock is held by flock itself, not inherited by the daemons.
flock -o "$LOCK" "$0" __locked "$OUT"
{ echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"; echo "uptime after: $(uptime)"; } | tee -a "$OUT/machine.txt"
summary "$OUT" | tee "$OUT/summary.md"
echo "== results in $OUT (summary.md, idle.txt, go-*.txt, hf-*.json)"
[ -s "$OUT/failures.txt" ] && { echo "== some benchmarks failed:"; cat "$OUT/failures.txt"; exit 1; }
exit 0
