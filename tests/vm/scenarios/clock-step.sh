#!/bin/bash
# The wall clock stepped under waiting tasks (the VM has its own clock; the
# host's is never touched): `--at` follows the wall clock (a step past its
# time starts it at once: the realtime timerfd's TFD_TIMER_CANCEL_ON_SET),
# `--in` follows elapsed time (a step back does not delay it).
. "$(dirname "$0")/lib.sh"
up
timedatectl set-ntp false >/dev/null 2>&1 || true
real=$(date +%s)
restore() { date -s "@$(( real + SECONDS ))" >/dev/null; }
state() { T status --json "$1" | json state; }
done_() { [ "$(state "$1")" = succeeded ]; }

at=$(date -d "@$((real + 3600))" +%Y-%m-%dT%H:%M:%S)   # local time, an hour ahead
a=$(T submit --at "$at" -- true)
sleep 1
[ "$(state "$a")" = waiting ] || { restore; fail "--at task is $(state "$a"), not waiting"; }
date -s "@$((real + 3605))" >/dev/null                   # step past it
until_ok 3 done_ "$a" || { restore; fail "--at task not started within 3 s of a clock step past it: $(state "$a")"; }

restore
i=$(T submit --in 4s -- true)
date -s "@$((real + SECONDS - 3600))" >/dev/null          # step back an hour
until_ok 8 done_ "$i" || { restore; fail "--in 4s task delayed by a clock stepped back: $(state "$i")"; }
restore
pass
