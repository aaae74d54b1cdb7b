#!/bin/bash
# check-openapi.sh: docs/openapi.yaml, the HTTP contract, is a valid
# OpenAPI 3.1 document, names exactly the routes the worker answers, and
# docs/openapi.json (what GET /openapi.json serves) is that YAML as JSON.
#
#  1. The routes of src/api/routes.c (see check-api-doc.sh) against the
#     paths of the YAML: each route's GET and POST is an operation "get:"
#     or "post:" of its path ('*' written {name}), and every operation of
#     the document is a route's. Needs nothing but awk.
#  2. docs/openapi.json is `node tests/openapi-json.js docs/openapi.yaml`.
#  3. The YAML validates against the OpenAPI 3.1 schemas, its $refs
#     resolved (@seriousme/openapi-schema-validator).
#
# 2 and 3 need node and the modules of tests/package.json (npm ci
# --prefix tests; PLACESD_NODE_MODULES says where, if not in
# tests/node_modules): without them the script says so and exits 77
# (SKIP), or fails when PLACESD_REQUIRE_NODE is set, as run-tests.sh does.
# Exit: 0 ok, 1 a check failed, 77 skipped, 99 a file cannot be read.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(dirname "$here")}
me=check-openapi
routes_c=$top_srcdir/src/api/routes.c
yaml=$top_srcdir/docs/openapi.yaml
json=$top_srcdir/docs/openapi.json

for f in "$routes_c" "$yaml" "$json"; do
	[ -r "$f" ] || { echo "$me: cannot read $f" >&2; exit 99; }
done

# 1. "METHOD /path" of the routes and of the document, '*' for {name}
. "$here/routes.sh" || { echo "$me: cannot read $here/routes.sh" >&2; exit 99; }
routes=$(routes_of "$routes_c")
ops=$(awk '
	/^[^ #]/ { inpaths = ($0 ~ /^paths:/); next }
	inpaths && /^  \/[^ ]*:[ \t]*$/ { path = $1; sub(/:$/, "", path); next }
	inpaths && /^    (get|post):[ \t]*$/ {
		m = $1; sub(/:$/, "", m)
		print toupper(m) " " path
	}' "$yaml" | sed 's/{[^}]*}/*/g' | sort -u)
[ -n "$routes" ] && [ -n "$ops" ] ||
	{ echo "$me: no route in $routes_c or no operation in $yaml" >&2; exit 99; }
fail=0
not_in "$routes" "$ops" "$me: FAIL: route \"%s\" (src/api/routes.c) is not an operation of docs/openapi.yaml" || fail=1
not_in "$ops" "$routes" "$me: FAIL: docs/openapi.yaml has the operation \"%s\", which src/api/routes.c does not serve" || fail=1
[ $fail -eq 0 ] &&
	echo "$me: $(wc -l <<<"$routes") route methods, each an operation of docs/openapi.yaml"

# 2 and 3: with node and the modules only
mod=${PLACESD_NODE_MODULES:-$top_srcdir/tests/node_modules}
validator=$mod/@seriousme/openapi-schema-validator/bin/validate-api-cli.js
why=
if ! command -v node > /dev/null 2>&1; then
	why="node is not installed"
elif [ ! -r "$mod/yaml/package.json" ] || [ ! -r "$validator" ]; then
	why="$mod lacks yaml or @seriousme/openapi-schema-validator (npm ci --prefix tests)"
fi
if [ -n "$why" ]; then
	if [ -n "${PLACESD_REQUIRE_NODE:-}" ]; then
		echo "$me: FAIL: $why, and PLACESD_REQUIRE_NODE is set"
		exit 1
	fi
	echo "$me: SKIP: $why: docs/openapi.json and the lint not checked"
	[ $fail -eq 0 ] && exit 77
	exit $fail
fi

if NODE_PATH=$mod node "$here/openapi-json.js" --check "$yaml" "$json"; then
	echo "$me: docs/openapi.json is docs/openapi.yaml as JSON"
else
	echo "$me: FAIL: docs/openapi.json is not docs/openapi.yaml as JSON"
	fail=1
fi

out=$(NODE_PATH=$mod node "$validator" "$yaml" 2>&1)
if grep -q '"valid": true' <<<"$out"; then
	echo "$me: docs/openapi.yaml is a valid OpenAPI 3.1 document"
else
	echo "$me: FAIL: docs/openapi.yaml does not validate:"
	printf '%s\n' "$out" | sed 's/^/    /'
	fail=1
fi
exit $fail
