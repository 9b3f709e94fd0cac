#!/usr/bin/env python3
"""Judge a Windows test binary's run under Wine from its test2json stream.

Usage: judge.py PKG EXIT_STATUS < test2json-output

Passes when every failed test failed only on the one known Wine gap: Go
1.26's os.RemoveAll uses a file call Wine 8 does not implement ("Invalid
function"), so the cleanup of every t.TempDir reports an error after the
test's own assertions ran. Any other output of a failed test (an assertion,
a panic) or a binary that failed outside any test fails the package.
"""
import json
import re
import sys

IGNORABLE = re.compile(r"TempDir RemoveAll cleanup: unlinkat .*: Invalid function\.")

pkg, status = sys.argv[1], int(sys.argv[2])
out, failed, passed = {}, [], 0
for raw in sys.stdin:
    try:
        ev = json.loads(raw)
    except ValueError:
        out.setdefault(None, []).append(raw)
        continue
    test, action = ev.get("Test"), ev.get("Action")
    if action == "output":
        out.setdefault(test, []).append(ev.get("Output", ""))
    elif action == "fail" and test:
        failed.append(test)
    elif action == "pass" and test:
        passed += 1

def real(lines):
    return [l for l in lines if l.strip() and not IGNORABLE.search(l)
            and not l.lstrip().startswith(("--- FAIL", "=== ", "--- PASS"))]

bad = {t: real(out.get(t, [])) for t in failed}
bad = {t: l for t, l in bad.items() if l}
if bad or (status != 0 and not failed):
    for t, lines in bad.items():
        sys.stderr.write("".join(lines))
    if not bad:
        sys.stderr.write("".join(out.get(None, [])[-40:]))
    print(f"internal/{pkg}: FAIL ({len(bad) or 'binary'} failing)")
    sys.exit(1)
note = f", {len(failed)} failed only on Wine's RemoveAll of t.TempDir (after their assertions)" if failed else ""
print(f"internal/{pkg}: {passed} passed{note}")
