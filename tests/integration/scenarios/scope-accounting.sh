#!/bin/bash
# Issue 4, acceptance 6: status --json of a finished attempt has wall time,
# CPU and peak memory, read from the scope.
. "$(dirname "$0")/lib.sh"
up
id=$(T submit -- python3 -c 'import time; x = bytearray(50 * 1024 * 1024); s = sum(range(3000000)); time.sleep(0.3)')
T wait "$id" || fail "task failed"
T status --json "$id" | python3 -c '
import json, sys
a = json.load(sys.stdin)["attempts"][0]
assert a["wall_usec"] >= 300000, a
assert a["cpu_user_usec"] + a["cpu_system_usec"] > 0, a
assert a["peak_memory_bytes"] >= 50 * 1024 * 1024, a
print("wall", a["wall_usec"], "cpu", a["cpu_user_usec"], "peak", a["peak_memory_bytes"])
' || fail "accounting missing: $(T status --json "$id")"
pass
