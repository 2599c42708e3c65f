#!/bin/bash
# The public schema is installed as shipped (issue 15): `cmake --install` of the schema component
# puts rpc.capnp and task-spec.capnp, unchanged, in share/taskctl/schema under the prefix, and
# nothing else; and they compile there on their own (no import outside that directory but
# capnp's own /capnp/c++.capnp), as a third party would compile them.
# Usage: schema-install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=${1:?build dir} src=${2:?source dir}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --component schema --prefix "$tmp/usr" >/dev/null
dir=$tmp/usr/share/taskctl/schema
got=$(cd "$tmp/usr" && find . -type f | sort | tr '\n' ' ')
want="./share/taskctl/schema/rpc.capnp ./share/taskctl/schema/task-spec.capnp "
if [ "$got" != "$want" ]; then
  echo "schema-install: installed [$got], want [$want]" >&2
  exit 1
fi
for f in rpc.capnp task-spec.capnp; do
  cmp "$src/schema/$f" "$dir/$f"
done
# Only the installed directory and capnp's own includes on the import path.
(cd "$dir" && capnp compile --no-standard-import -I/usr/include -o- rpc.capnp task-spec.capnp >/dev/null)
echo "schema-install: $want"
