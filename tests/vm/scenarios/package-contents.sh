#!/bin/bash
# Issue 15, acceptance: `dpkg -c` of the built package lists the public contracts a third party
# builds on: the RPC schema under /usr/share/taskctl/schema/ (rpc.capnp and every schema it
# imports, so that another Cap'n Proto implementation can compile it from the package alone)
# and the D-Bus introspection XML /usr/share/dbus-1/interfaces/io.taskctl1.Manager.xml (well
# formed, naming the interface io.taskctl1.Manager), as systemd ships its own. Reads the .deb
# the suite tests; needs no daemon.
. "$(dirname "$0")/lib.sh"
deb=$(ls taskctl_*.deb | head -n 1)
dpkg -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$WORK/contents" || fail "dpkg -c $deb failed"
SCHEMA=/usr/share/taskctl/schema
XML=/usr/share/dbus-1/interfaces/io.taskctl1.Manager.xml
missing=
for path in "$SCHEMA/rpc.capnp" "$XML"; do
  grep -qxF "$path" "$WORK/contents" || missing+=" $path"
done
[ -z "$missing" ] || fail "dpkg -c $deb does not list:$missing (it lists $(grep -c . "$WORK/contents") paths;" \
  "under /usr/share: $(grep '^/usr/share/[^/]*/*$' "$WORK/contents" | tr '\n' ' '))"

# The files themselves: each shipped schema's imports are shipped too (those of capnp's own
# /capnp/ tree aside: every Cap'n Proto install has them), and the XML parses.
dpkg-deb -x "$deb" "$WORK/root" || fail "dpkg-deb -x $deb failed"
for schema in "$WORK/root$SCHEMA"/*.capnp; do
  for import in $(sed -n 's/.*import "\([^"]*\)".*/\1/p' "$schema"); do
    case $import in
      /capnp/*) ;;
      /*) fail "$(basename "$schema") imports $import: an absolute path outside /capnp/ that no other install has";;
      *) [ -f "$WORK/root$SCHEMA/$import" ] ||
           fail "$SCHEMA/$(basename "$schema") imports $import, which the package does not ship beside it";;
    esac
  done
done
python3 - "$WORK/root$XML" <<'PY' || fail "$XML is not the io.taskctl1.Manager introspection XML"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
names = [i.get("name") for i in root.iter("interface")]
if root.tag != "node" or "io.taskctl1.Manager" not in names:
    sys.exit(f"root <{root.tag}>, interfaces {names}")
PY
echo "the package ships $(grep -c "^$SCHEMA/.*\.capnp$" "$WORK/contents") schema file(s) in $SCHEMA and $XML"
pass
