#!/bin/bash
# The examples run verbatim (issue 15): README.md's "Using it" block and taskctl(1)'s EXAMPLES,
# as written, against a daemon with the packaged etc/taskctl/taskctld.toml, from a directory laid
# out like a checkout after scripts/quickstart (build/bin, .state/taskctl.sock). Each block runs
# under `bash -e`: every command in it must succeed. The user's own scripts the examples name
# (./report.sh, ./job.sh, ...) are stand-ins that exit 0. Left out of taskctl(1)'s examples, with
# the reason: the schedule one (needs systemd's timers: tests/integration), `watch` (runs until
# Ctrl-C) and `progress` (from inside a task: e2e.progress-heartbeat).
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)

dir=$WORK/checkout
mkdir -p "$dir/build" "$dir/.state"
ln -s "$BIN" "$dir/build/bin"
for script in report job extract load later flaky nightly once; do
  printf '#!/bin/sh\necho "%s ran"\n' "$script" >"$dir/$script.sh"
  chmod +x "$dir/$script.sh"
done
cp "$root/etc/taskctl/taskctld.toml" "$CONFIG"
export TASKCTL_SOCKET=$dir/.state/taskctl.sock
start_daemon

# README.md: the first ```sh block after "## Using it".
python3 - "$root/README.md" >"$WORK/readme.sh" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"^## Using it\n.*?^```sh\n(.*?)^```", text, re.S | re.M)
if not m: sys.exit("no ```sh block under '## Using it' in README.md")
print(m.group(1), end="")
PY
[ -s "$WORK/readme.sh" ] || fail "README.md's example block is empty"
(cd "$dir" && bash -e "$WORK/readme.sh") >"$WORK/readme.out" 2>&1 ||
  fail "README.md's 'Using it' block failed: $(tail -n 5 "$WORK/readme.out")"
[ "$(T list --label kind=report --json | json 0 state)" = succeeded ] ||
  fail "README: the kind=report task did not succeed"

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
