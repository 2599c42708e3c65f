#!/bin/bash
# Issue 7, acceptance 6: after the install `man taskctl` shows taskctl(1), and in an ordinary
# user's interactive bash `taskctl <TAB>` offers the subcommands (bash-completion's loader
# finds the package's completion; its function is called as readline would, with COMP_WORDS).
. "$(dirname "$0")/lib.sh"
up
id -u alice >/dev/null 2>&1 || useradd -m alice
missing=
man -w taskctl >/dev/null 2>&1 || missing+=" taskctl(1)"
dpkg -L taskctl | grep -q '^/usr/share/bash-completion/completions/' || missing+=" bash completion"
[ -z "$missing" ] || fail "the package ships no$missing (yet: debian/ must install them)"

MANPAGER=cat MANWIDTH=80 man taskctl >"$WORK/man" 2>&1 || fail "man taskctl failed: $(cat "$WORK/man")"
for w in submit status logs wait cancel list; do
  grep -qw "$w" "$WORK/man" || fail "man taskctl does not mention $w"
done

cat >"$WORK/complete.sh" <<'SH'
_completion_loader taskctl >/dev/null 2>&1
spec=$(complete -p taskctl) || { echo "no completion for taskctl"; exit 3; }
fn=$(echo "$spec" | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
[ -n "$fn" ] || { echo "not a -F completion: $spec"; exit 3; }
COMP_WORDS=(taskctl ""); COMP_CWORD=1; COMP_LINE="taskctl "; COMP_POINT=${#COMP_LINE}
"$fn" taskctl "" taskctl
printf '%s\n' "${COMPREPLY[@]}"
SH
chmod 644 "$WORK/complete.sh"
runuser -u alice -- bash -ic ". $WORK/complete.sh" >"$WORK/words" 2>"$WORK/err" ||
  fail "completion in alice's bash failed: $(cat "$WORK/words" "$WORK/err")"
for w in submit status logs wait cancel list; do
  grep -qx "$w" "$WORK/words" || fail "taskctl <TAB> does not offer $w: $(tr '\n' ' ' <"$WORK/words")"
done
pass
