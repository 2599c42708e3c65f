#!/bin/bash
# check-manpages can fail: on a copy of the checkout's sources and man pages it must pass, then,
# after each kind of word is added to the code without its man-page line (a state, a reason, a
# task exit code, an exit status of taskctl's own, one of taskctld's own, a variable the runner
# sets for a task, one taskctl reads, one taskctld reads, a D-Bus property and signal argument),
# one list item is dropped from a page and items added that the code does not have (a reason, an
# exit status of taskctld), it must exit 1 and name exactly those (expected.txt).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
check=$root/scripts/check-manpages
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/docs"
cp -r "$root/common" "$root/ctl" "$root/daemon" "$root/schema" "$tmp/"
cp -r "$root/docs/man" "$root/docs/dbus.md" "$tmp/docs/"

if ! out=$("$check" "$tmp"); then
  echo "FAIL: check-manpages refuses the unchanged copy:"; echo "$out"; exit 1
fi

# One line of C++ after the first line matching a pattern (sed 'a', keeping the indentation).
add_after() {  # FILE PATTERN LINE
  grep -q -- "$2" "$1" || { echo "FAIL: no '$2' in $1 to add after"; exit 1; }
  sed -i "0,/$2/{/$2/a\\
$3
}" "$1"
}
add_after "$tmp/common/task-words.c++" 'case TaskState::RETRYING:' '      return "suspended";\n    case TaskState::WAITING:'
add_after "$tmp/common/task-words.c++" 'case EndReason::NOT_STARTED:' '      return "not-started";\n    case EndReason::NONE:\n      return "evicted";'
add_after "$tmp/common/task-words.c++" 'return 137;' '    case EndReason::LOST:\n      return 143;'
add_after "$tmp/ctl/exit-status.h" 'constexpr int EXIT_IO' 'constexpr int EXIT_CONFIG = 78;'
add_after "$tmp/daemon/runner/shim-launcher.c++" 'env.add(kj::str("TASKCTL_QUEUE=' '  env.add(kj::str("TASKCTL_USER=", 0));'
add_after "$tmp/ctl/output.c++" 'getenv("COLUMNS")' '  (void)getenv("TASKCTL_COLOR");'
add_after "$tmp/daemon/main.c++" 'if (flags.checkStore || flags.salvageTo != nullptr) {' '    if (geteuid() != 0) return 77;'
echo 'static int booted() { return sd_booted(); } static void x() { sd_listen_fds(0); getenv("SYSTEMD_EXEC_PID"); }' \
  >> "$tmp/daemon/log.c++"
# The D-Bus interface gains a property and a signal argument that neither taskctld(8) nor
# docs/dbus.md has.
sed -i 's|^    <property name="LastSeq"|    <property name="NHeld" type="u" access="read"/>\n&|' "$tmp/schema/io.taskctl1.xml"
sed -i 's|^      <arg name="fraction" type="d"/>|&\n      <arg name="status" type="s"/>|' "$tmp/schema/io.taskctl1.xml"
grep -q NHeld "$tmp/schema/io.taskctl1.xml" && grep -q '"status"' "$tmp/schema/io.taskctl1.xml" ||
  { echo "FAIL: the XML copy was not mutated"; exit 1; }
# And a page that loses an item (the JSON document of `queue list`) and lists a reason and an
# exit status of taskctld the code does not have.
sed -i '/^\.SS Reasons$/a\
.TP\
.B zombie\
Gone.' "$tmp/docs/man/taskctl.1"
sed -i '/^\.SH EXIT STATUS$/a\
.TP\
.B 2\
The store is locked.' "$tmp/docs/man/taskctld.8"
sed -i '/^\.SH JSON OUTPUT/,/^\.SH ENVIRONMENT/{/^\.B queue list$/s/.*/.B queues/}' "$tmp/docs/man/taskctl.1"

out=$("$check" "$tmp")
rc=$?
if [ "$rc" -ne 1 ]; then
  echo "FAIL: check-manpages exited $rc on the mutated copy, expected 1:"; echo "$out"; exit 1
fi
if ! diff -u "$here/expected.txt" <(printf '%s\n' "$out"); then
  echo "FAIL: check-manpages's report on the mutated copy differs from expected.txt"; exit 1
fi
echo "PASS: check-manpages names all $(($(wc -l < "$here/expected.txt") - 1)) disagreements"
