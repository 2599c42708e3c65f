#!/bin/bash
# The examples run verbatim (issue 15): README.md's "Using it" blocks and taskctl(1)'s EXAMPLES,
# as written, against a daemon with the packaged etc/taskctl/taskctld.toml, from a directory laid
# out like a checkout after scripts/quickstart (build/bin, .state/taskctl.sock), with the
# README's own `export PATH=$PWD/build/bin:...` line for such a checkout. README.md's blocks come
# from tests/readme-blocks (which the VM suite's readme scenario shares: there they run on the
# installed package as a plain user and root); here all run as root, each script under
# `bash -e`: every command in it must succeed. The README makes its own stand-ins for the user's
# scripts it names; taskctl(1)'s examples get stand-ins here (./report.sh, ./job.sh, ...) that
# exit 0. Left out of taskctl(1)'s examples, with the reason: the schedule one (needs systemd's
# timers: tests/integration), `watch` (runs until Ctrl-C) and `progress` (from inside a task:
# e2e.progress-heartbeat).
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)

dir=$WORK/checkout
mkdir -p "$dir/build" "$dir/.state"
ln -s "$BIN" "$dir/build/bin"
cp "$root/etc/taskctl/taskctld.toml" "$CONFIG"
# README.md: how to use the checkout's daemon, the one line of its first block that says so.
line=$(grep -m 1 '^export PATH=\$PWD/build/bin' "$root/README.md") ||
  fail "README.md has no 'export PATH=\$PWD/build/bin...' line for a checkout's daemon"
cd "$dir"
eval "$line"
cd "$OLDPWD"
[ "$TASKCTL_SOCKET" = "$dir/.state/taskctl.sock" ] || fail "README.md's '$line' sets TASKCTL_SOCKET=$TASKCTL_SOCKET"
[ "$(command -v taskctl)" = "$dir/build/bin/taskctl" ] || fail "after README.md's '$line', taskctl is $(command -v taskctl)"
start_daemon

# README.md: every ```sh block under "## Using it", one script per user (here all root's).
"$root/tests/readme-blocks" "$root/README.md" "$WORK/readme" "Using it" >"$WORK/readme.list" ||
  fail "tests/readme-blocks could not read README.md's 'Using it' blocks"
[ "$(wc -l <"$WORK/readme.list")" -ge 2 ] || fail "README.md's 'Using it' gave $(wc -l <"$WORK/readme.list") scripts, want the user's and root's"
while read -r script who; do
  (cd "$dir" && TMPDIR=$WORK bash -e "$script") >"$WORK/readme.out" 2>&1 </dev/null ||
    fail "README.md's 'Using it' script $(basename "$script") (the $who's) failed: $(tail -n 5 "$WORK/readme.out")"
done <"$WORK/readme.list"
[ "$(T list --label kind=report --json | json 0 state)" = succeeded ] ||
  fail "README: the kind=report task did not succeed"

for script in report job extract load later flaky nightly once; do
  printf '#!/bin/sh\necho "%s ran"\n' "$script" >"$dir/$script.sh"
  chmod +x "$dir/$script.sh"
done
# taskctl(1): each .EX block of EXAMPLES, troff escapes undone.
python3 - "$root/docs/man/taskctl.1" "$WORK/man" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
examples = text.split("\n.SH EXAMPLES\n", 1)[1].split("\n.SH ", 1)[0]
blocks = re.findall(r"^\.EX\n(.*?)^\.EE", examples, re.S | re.M)
kept = 0
for block in blocks:
    for a, b in (("\\-", "-"), ("\\(aq", "'"), ("\\e", "\\")):
        block = block.replace(a, b)
    if re.search(r"taskctl (schedule|watch|progress)\b", block):
        continue
    kept += 1
    open(f"{sys.argv[2]}-{kept}.sh", "w").write(block)
if kept < 3: sys.exit(f"only {kept} runnable examples in taskctl(1)")
PY
for block in "$WORK"/man-*.sh; do
  (cd "$dir" && PATH=$BIN:$PATH bash -e "$block") >"$WORK/man.out" 2>&1 ||
    fail "taskctl(1)'s example $(basename "$block") failed: $(tail -n 5 "$WORK/man.out")"
done
pass
