#!/bin/bash
# A client taskctl did not write (issue 15): docs/examples/node-client, Node with capnp-es,
# against a real daemon. capnp-es (pinned by the example's package-lock.json) is installed with
# `npm ci` into a cache under the build tree; it compiles the schema as installed (the files
# `cmake --install` ships, compiled where they land); the example, run as a real non-root user,
# submits, waits, lists and watches, and the daemon sees that user's uid (from the socket).
# Needs the npm registry the first time (then the cache serves): without it the scenario fails
# and says so; it never skips.
. "$(dirname "$0")/lib.sh"
: "${BUILD:?set BUILD to the build directory}" "${SRC:?set SRC to the source directory}"
example=$SRC/docs/examples/node-client
for tool in node npm capnp; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/deps installs it)"
done

# capnp-es and its compiler's TypeScript, exactly as locked, in the build tree.
cache=$BUILD/node-client
mkdir -p "$cache"
cp "$example/package.json" "$example/package-lock.json" "$cache/"
# installed.lock: the lock file node_modules was last installed from (npm ci starts afresh).
if ! cmp -s "$example/package-lock.json" "$cache/installed.lock"; then
  rm -f "$cache/installed.lock"
  if ! (cd "$cache" && timeout 300 npm ci --no-audit --no-fund --loglevel=error) >"$WORK/npm.log" 2>&1; then
    cat "$WORK/npm.log" >&2
    fail "npm ci of capnp-es failed (is the npm registry reachable? see above)"
  fi
  cp "$example/package-lock.json" "$cache/installed.lock"
fi
[ -f "$cache/node_modules/capnp-es/package.json" ] || fail "npm ci left no capnp-es in $cache"

# The schema as installed, compiled there with capnp-es. capnp-es's JS output type-checks
# every file it writes, and TypeScript finds an imported file only on disk: task-spec.ts is
# written first, then both files are compiled to JS.
cmake --install "$BUILD" --component schema --prefix "$WORK/usr" >/dev/null
schema=$WORK/usr/share/taskctl/schema
client=$WORK/client
mkdir -p "$client/gen" "$client/node_modules"
cp -r "$cache/node_modules/capnp-es" "$client/node_modules/"
cp "$example/client.mjs" "$example/package.json" "$client/"
plugins=$cache/node_modules/.bin
(cd "$schema" && capnp compile -o "$plugins/capnpc-ts:$client/gen" task-spec.capnp &&
  capnp compile -o "$plugins/capnpc-js:$client/gen" rpc.capnp task-spec.capnp) >"$WORK/capnp-es.log" 2>&1 ||
  { cat "$WORK/capnp-es.log" >&2; fail "capnp-es does not compile the installed schema"; }
[ -f "$client/gen/rpc.js" ] && [ -f "$client/gen/task-spec.js" ] || fail "capnp-es wrote no rpc.js"
chmod -R a+rX "$client"

start_daemon
make_user alice
uid=$(id -u "$alice")
out=$(cd /tmp && runuser -u "$alice" -- timeout 60 node "$client/client.mjs" "$client/gen" \
        "$TASKCTL_SOCKET" 2>"$WORK/node.err") ||
  { cat "$WORK/node.err" >&2; echo "$out" >&2; fail "the node client exited $?"; }
echo "$out"
id=$(sed -n 's/^submitted \([0-9]*\)$/\1/p' <<<"$out")
[ -n "$id" ] || fail "no 'submitted ID' line"
version=$("$BIN/taskctld" --version | awk '{print $2}')
# The revision the schema in this checkout declares (the daemon must answer with it).
rev=$(sed -n 's/^const schemaRevision :UInt32 = \([0-9]*\);.*/\1/p' "$SRC/schema/rpc.capnp")
[ -n "$rev" ] || fail "no schemaRevision in schema/rpc.capnp"
grep -qx "version taskctld $version schema $rev" <<<"$out" || fail "version line: want $version, schema $rev"
grep -qx "waited $id succeeded exit 0 uid $uid" <<<"$out" || fail "wait: not succeeded as uid $uid"
grep -qx "listed $id uid $uid" <<<"$out" || fail "list: task $id not listed as uid $uid"
# The watch: the task's changes in order, from its creation to its end.
[ "$(grep "^event $id " <<<"$out" | awk '{print $3}' | tr '\n' ' ')" = \
  "queued starting running succeeded " ] || fail "watch: $(grep '^event' <<<"$out" | tr '\n' ' ')"
# The daemon agrees: the task is alice's, and ran.
[ "$(T status --json "$id" | json uid)" = "$uid" ] || fail "status: not alice's"
[ "$(T logs "$id")" = "hello from node" ] || fail "logs: $(T logs "$id")"
# taskctl --version names both ends.
versions=$(T --version)
[ "$versions" = "taskctl $version (schema revision $rev)
taskctld $version (schema revision $rev)" ] || fail "taskctl --version: $versions"
pass
