#!/bin/bash
# Bad input: one line on stderr, the right exit status, nothing changed.
. "$(dirname "$0")/lib.sh"
start_daemon
id=$(T submit -- true); T wait "$id"
before=$(T list --json)
check() { local want=$1; shift; local rc=0
  T "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  [ $rc = "$want" ] || fail "taskctl $*: exit $rc, want $want ($(cat "$WORK/err"))"
  [ "$(wc -l <"$WORK/err")" = 1 ] || fail "taskctl $*: stderr is not one line: $(cat "$WORK/err")"
  [ ! -s "$WORK/out" ] || fail "taskctl $*: printed to stdout"; }
check 64 submit --
check 64 submit --priority 101 -- true
check 64 submit --priority -101 -- true
check 65 submit --queue no-such-queue -- true
# argv + env over 1 MiB, in arguments the kernel still lets through exec.
big=$(head -c 100000 /dev/zero | tr '\0' x)
args=(); for i in $(seq 11); do args+=("$big"); done
check 65 submit -- echo "${args[@]}"
grep -q "the limit is 1 MiB" "$WORK/err" || fail "an oversized submit does not say the limit: $(cat "$WORK/err")"
check 65 status 99999
check 65 wait 99999
check 65 cancel 99999
check 65 logs 99999
[ "$(T list --json)" = "$before" ] || fail "list changed"
pass
