# routes.awk: "METHOD /path" for each route of src/api/routes.c and each
# method it lists (GET or POST; HEAD and OPTIONS come with every route),
# '*' kept as is. Read by check-api-doc.sh and check-openapi.sh. A route
# is a line of the table that starts with { "/path", ...
/^[ \t]*\{ *"\// {
	if (!match($0, /"[^"]*"/)) next
	path = substr($0, RSTART + 1, RLENGTH - 2)
	if ($0 ~ /HTTP_GET/) print "GET " path
	if ($0 ~ /HTTP_POST/) print "POST " path
}
