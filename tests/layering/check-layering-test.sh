#!/bin/bash
# The layering check can fail: on a fixture tree with one include across each kind of boundary
# (store -> scheduler, rpc -> store, bus -> a runner header that is not its interface, ctl ->
# daemon, the shim -> store, an include of no file), it must exit 1 and name exactly those, with
# file:line, and none of the allowed ones (the store under the scheduler, bus's ScopeManager, the
# schema, a unit test's includes).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$("$here/../../scripts/check-layering" "$here/fixture" 2>/dev/null)
rc=$?
if [ "$rc" -ne 1 ]; then
  echo "FAIL: check-layering exited $rc on the fixture, expected 1"; exit 1
fi
if ! diff -u "$here/expected.txt" <(printf '%s\n' "$out"); then
  echo "FAIL: check-layering's report on the fixture differs from expected.txt"; exit 1
fi
echo "PASS: check-layering names the fixture's $(wc -l < "$here/expected.txt") violations"
