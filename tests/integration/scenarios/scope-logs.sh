#!/bin/bash
# Issue 4, acceptance 8: logs -f prints lines as they come and returns when
# the task ends; 200 MiB of output leaves a log no larger than the cap, whose
# end is the task's last output.
. "$(dirname "$0")/lib.sh"
printf '[logs]\nmax_bytes = 1048576\n' >/etc/taskctl/taskctld.toml
up; systemctl reload taskctld.service; sleep 0.5
id=$(T submit -- sh -c 'for i in 1 2 3; do echo "line $i $(date +%s%N)"; sleep 0.5; done')
T logs -f "$id" | while read -r _ n stamp; do echo "$n $stamp $(date +%s%N)"; done >"$WORK/seen"
[ "$(wc -l <"$WORK/seen")" = 3 ] || fail "followed $(wc -l <"$WORK/seen") lines"
awk '{ if (($3 - $2) / 1e9 > 0.4) exit 1 }' "$WORK/seen" || fail "lines arrived late: $(cat "$WORK/seen")"
[ "$(T status --json "$id" | json state)" = succeeded ] || fail "logs -f returned before the end"
id=$(T submit -- sh -c 'head -c 209715200 /dev/zero | tr "\0" x | fold -w 100; printf "\nthe-last-line\n"')
T wait "$id" || fail "the noisy task failed"
size=$(stat -c %s /var/lib/taskctl/logs/$id-1.log)
[ "$size" -le 1048576 ] || fail "log is $size bytes"
T logs "$id" >"$WORK/log"
[ "$(tail -n 1 "$WORK/log")" = the-last-line ] || fail "log does not end with the last output"
pass
