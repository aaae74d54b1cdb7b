#!/bin/bash
# check-api-doc.sh: docs/api.md documents every route the worker answers,
# and no route it does not.
#
# The routes are the table of src/api/routes.c, one line per route:
#     { "/path/*/more", HTTP_GET | HTTP_POST, handler, debug, quick },
# For each route and each method it lists (GET or POST; HEAD and OPTIONS
# come with every route and have no section of their own), docs/api.md
# must have a section headed "## METHOD /path/{name}/more": each '*' of
# the route stands for one {name} in the heading, whatever the name. And
# every "## GET ..." or "## POST ..." heading of docs/api.md must be such a
# route's, so that the document names no path the server does not serve.
#
# Run by "make check" with top_srcdir exported (absolute), or by hand.
# Exit: 0 ok, 1 a route or a heading has no counterpart, 99 a file cannot
# be read or holds no route.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(dirname "$here")}
routes_c=$top_srcdir/src/api/routes.c
api_md=$top_srcdir/docs/api.md

for f in "$routes_c" "$api_md"; do
	[ -r "$f" ] || { echo "check-api-doc: cannot read $f" >&2; exit 99; }
done

. "$here/routes.sh" || { echo "check-api-doc: cannot read $here/routes.sh" >&2; exit 99; }

# "METHOD /path" for each route and method, '*' kept as is
routes=$(routes_of "$routes_c")
[ -n "$routes" ] || { echo "check-api-doc: no route found in $routes_c" >&2; exit 99; }

# the headings, each {name} turned into '*'
headings=$(sed -n 's/^## \(GET\|POST\) \(\/[^ ]*\).*$/\1 \2/p' "$api_md" |
	sed 's/{[^}]*}/*/g' | sort -u)

fail=0
not_in "$routes" "$headings" 'check-api-doc: route "%s" (src/api/routes.c) has no "## %s" section in docs/api.md (a '"'*'"' is written {name})' || fail=1
not_in "$headings" "$routes" 'check-api-doc: docs/api.md has a section for "%s", which src/api/routes.c does not serve' || fail=1
[ $fail -eq 0 ] && echo "check-api-doc: $(wc -l <<<"$routes") routes, each documented in docs/api.md"
exit $fail
