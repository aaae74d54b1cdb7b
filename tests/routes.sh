# shellcheck shell=bash
# routes.sh: what check-api-doc.sh and check-openapi.sh share, sourced by
# both: the routes of src/api/routes.c, and a list checked against
# another.

# routes_of FILE: "METHOD /path" for each route of the table in FILE and
# each method it lists (GET or POST; HEAD and OPTIONS come with every
# route), '*' kept as is, sorted, once each. A route is a line of the
# table that starts with { "/path", ...
routes_of() {
	awk '
		/^[ \t]*\{ *"\// {
			if (!match($0, /"[^"]*"/)) next
			path = substr($0, RSTART + 1, RLENGTH - 2)
			if ($0 ~ /HTTP_GET/) print "GET " path
			if ($0 ~ /HTTP_POST/) print "POST " path
		}' "$1" | sort -u
}

# not_in LINES OTHERS MESSAGE: prints MESSAGE, each %s in it replaced by
# the line, for each non-empty line of LINES that is not a whole line of
# OTHERS; returns 1 if it printed any.
not_in() {
	local line rc=0
	while read -r line; do
		[ -n "$line" ] || continue
		grep -qxF -- "$line" <<<"$2" && continue
		printf '%s\n' "${3//%s/"$line"}"
		rc=1
	done <<<"$1"
	return $rc
}
