#!/bin/bash
# Issue 7 (issue 4, acceptance 6, on cgroup v2): an attempt's accounting has its peak memory,
# read from the scope's memory.peak (kernel 6.1 has it): the whole scope's peak, so three
# processes that hold 40 MB each at once count about 120 MB, where no one process (what
# getrusage would see) ever held more than 40 MB.
. "$(dirname "$0")/lib.sh"
up
[ -f "$SLICE/memory.peak" ] || fail "this kernel ($(uname -r)) has no memory.peak in $SLICE"
hold='import sys, time; x = bytearray(40 * 1024 * 1024); open(sys.argv[1], "a").write("x\n"); time.sleep(8)'
id=$(T submit -- sh -c 'for i in 1 2 3; do python3 -c "$1" "$0/held" & done; wait' "$WORK" "$hold")
held() { [ "$(cat "$WORK/held" 2>/dev/null | wc -l)" = 3 ]; }
until_ok 60 held || fail "the three processes never held their memory"
live=$(cat "$(scope_cgroup "$id")/memory.peak") || fail "no memory.peak in the scope $(scope_cgroup "$id")"
T wait "$id" || fail "task $id failed"
peak=$(T status --json "$id" | json attempts 0 peak_memory_bytes)
echo "memory.peak while running: $live; recorded peak_memory_bytes: $peak"
[ "$peak" -ge $((120 * 1024 * 1024)) ] || fail "peak_memory_bytes $peak < 120 MiB: not the scope's memory.peak"
[ "$peak" -ge "$live" ] || fail "peak_memory_bytes $peak < memory.peak $live read while the task ran"
pass
