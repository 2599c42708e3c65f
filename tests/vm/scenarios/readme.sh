#!/bin/bash
# Issue 15, acceptance: the README's "Using it" and "Use it on a server" blocks run verbatim on
# a fresh install and exit 0. The blocks are read from README.md at test time (vm.sh brings it
# and tests/readme-blocks in, beside the package), never copied: tests/readme-blocks makes one
# script of each run of blocks by the same user, root for the blocks that open with `# as root`.
# Each runs under `bash -e`: a plain user's in a login shell of a user made for this scenario
# (a newcomer: home directory, nothing else), root's in a directory laid out as the README's
# `apt install ./build-deb/...` line expects (build-deb/ holding the package under test).
#
# The one line no VM can run verbatim is `./scripts/build-deb`: it builds the package from the
# checkout, and the VM has the package, not the checkout. vm.sh ran it on the host (it builds
# the package with scripts/build-deb, or is handed one built so): that line is left out here,
# saying so, and any other line running ./scripts/ fails the scenario. What the blocks leave
# behind (the user, their tasks and schedule, /srv/backup.sh, the queue's concurrency) goes at
# the end.
. "$(dirname "$0")/lib.sh"
up
[ -f readme/README.md ] && [ -f readme/readme-blocks ] ||
  fail "no readme/README.md and readme/readme-blocks beside the scenarios (vm.sh copies them in)"

user=taskctl-newcomer
cleanup() {
  if id -u "$user" >/dev/null 2>&1; then
    ids=$(runuser -u "$user" -- taskctl list --json 2>/dev/null |
          python3 -c 'import json,sys; print(" ".join(str(t["id"]) for t in json.load(sys.stdin)))' || true)
    # shellcheck disable=SC2086 # one word per id
    [ -z "$ids" ] || runuser -u "$user" -- taskctl cancel $ids >/dev/null 2>&1 || true
    (cd / && runuser -u "$user" -- taskctl schedule remove nightly >/dev/null 2>&1) || true
    find /tmp /var/tmp -maxdepth 1 -user "$user" -exec rm -rf {} + 2>/dev/null || true
    userdel -r "$user" >/dev/null 2>&1 || true
  fi
  taskctl queue set default --concurrency default >/dev/null 2>&1 || true
  rm -f /srv/backup.sh
  rm -rf "$WORK"
}
trap cleanup EXIT
useradd -m -s /bin/bash "$user"

python3 readme/readme-blocks readme/README.md "$WORK/blocks" "Using it" "Use it on a server" \
  >"$WORK/scripts" || fail "tests/readme-blocks could not read README.md's blocks"
mkdir -p "$WORK/checkout/build-deb"
cp taskctl_*.deb "$WORK/checkout/build-deb/"
chmod -R a+rX "$WORK"

n=0
while read -r script who; do
  n=$((n + 1))
  others=$(grep -n '^[[:space:]]*\./scripts/' "$script" | grep -v ':[[:space:]]*\./scripts/build-deb\([[:space:]]\|$\)' || true)
  [ -z "$others" ] || fail "README.md's script $n runs from a checkout, which the VM has not: $others"
  if grep -q '^[[:space:]]*\./scripts/build-deb\([[:space:]]\|$\)' "$script"; then
    sed -i '/^[[:space:]]*\.\/scripts\/build-deb\([[:space:]]\|$\)/d' "$script"
    echo "readme: not run in the VM: ./scripts/build-deb (vm.sh ran it on the host; its package is build-deb/$(ls "$WORK/checkout/build-deb"))"
  fi
  echo "readme: script $n, as $who:"
  sed 's/^/  | /' "$script"
  rc=0
  if [ "$who" = root ]; then
    (cd "$WORK/checkout" && bash -e "$script") >"$WORK/out-$n" 2>&1 </dev/null || rc=$?
  else
    runuser -l "$user" -c "bash -e $script" >"$WORK/out-$n" 2>&1 </dev/null || rc=$?
  fi
  sed 's/^/  > /' "$WORK/out-$n"
  [ $rc = 0 ] || fail "README.md's script $n (as $who) exited $rc under bash -e; its output is above"
done <"$WORK/scripts"
[ $n -ge 3 ] || fail "README.md gave $n scripts, expected the user's, root's and the server user's"

# What the blocks did, as they say: the report ran and succeeded; the backup ran as the user.
report=$(runuser -u "$user" -- taskctl list --label kind=report --json | json 0 state) ||
  fail "no kind=report task of $user"
[ "$report" = succeeded ] || fail "the kind=report task is $report, not succeeded"
backup=$(runuser -u "$user" -- taskctl list --json |
         python3 -c 'import json,sys; print([t["id"] for t in json.load(sys.stdin) if t["argv"][0] == "/srv/backup.sh"][0])') ||
  fail "no /srv/backup.sh task of $user"
out=$(runuser -u "$user" -- taskctl logs "$backup")
[ "$out" = "backing up for $user" ] || fail "/srv/backup.sh's task $backup printed '$out', not 'backing up for $user'"
runuser -u "$user" -- taskctl schedule list | grep -qw nightly || fail "$user's schedule list lacks nightly"
pass
