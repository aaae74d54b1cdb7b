#!/bin/bash
# check-layers.sh: includes in src/ run one way (docs/design.md, "Layers").
#
# Each folder of src/ belongs to one layer, and a file may include the
# headers of its own folder and of the folders its layer stands on:
#
#   layer    folders                       may include besides its own
#   common   common/                       nothing
#   runtime  runtime/                      common/
#   role     master/ worker/ ranker/       common/ runtime/
#            events/ ctl/                  (never another role)
#   api      api/                          common/ runtime/ worker/
#   main     src/*.c                       anything (a program's main())
#
# api/ runs in a worker: it may include worker/, and neither master/ nor
# ranker/, which run in other processes and are reached through the wire
# format of common/.
#
# Every '#include "..."' line of every .c and .h file under src/ is read
# ('#include <...>' names the system's and the libraries' headers). A
# name without a folder ("x.h") is the including file's own folder, where
# the compiler looks first. The check fails, naming file, line and arrow,
# on an include that runs back up, goes sideways between roles, names a
# folder the table does not place, or climbs with "..", and on a folder
# of src/ holding C files that the table does not place, so that a new
# folder is given a layer before it is given code. The table is the
# BEGIN block below; there are no exceptions.
#
# Run by "make check" with top_srcdir exported (absolute), or by hand from
# anywhere. Exit: 0 ok, 1 an include runs the wrong way, 99 src/ cannot
# be read.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(dirname "$here")}
me=check-layers
src=$top_srcdir/src

if [ ! -d "$src" ]; then
	echo "$me: ERROR: $src not found" >&2
	exit 99
fi
mapfile -t files < <(cd "$src" && find . -type f \( -name '*.c' -o \
    -name '*.h' \) | LC_ALL=C sort)
if [ "${#files[@]}" -eq 0 ]; then
	echo "$me: ERROR: no C files under $src" >&2
	exit 99
fi

cd "$src" && LC_ALL=C awk -v me="$me" '
# place(folder, layer, rank, folders it may include besides its own).
# The rank orders the layers only to name a wrong arrow: up or sideways.
function place(f, l, r, may) {
	layer[f] = l
	rank[f] = r
	allowed[f] = " " may " "
}
BEGIN {
	place("common",  "common",  0, "")
	place("runtime", "runtime", 1, "common")
	place("master",  "role",    2, "common runtime")
	place("worker",  "role",    2, "common runtime")
	place("ranker",  "role",    2, "common runtime")
	place("events",  "role",    2, "common runtime")
	place("ctl",     "role",    2, "common runtime")
	place("api",     "api",     3, "common runtime worker")
	place(".",       "main",    4, "*")
	bad = 0
	n = 0
}
function folder_of(path) {
	sub(/^\.\//, "", path)
	return index(path, "/") ? substr(path, 1, index(path, "/") - 1) : "."
}
function name(f) {
	return f == "." ? "src/*.c" : f "/"
}
function names(list,   k, w, i, out) {
	k = split(list, w, " ")
	out = ""
	for (i = 1; i <= k; i++)
		out = out (i > 1 ? ", " : "") name(w[i])
	return out
}
function fail(msg) {
	printf "%s:%d: %s\n", "src/" substr(FILENAME, 3), FNR, msg \
	    > "/dev/stderr"
	bad++
}
FNR == 1 {
	from = folder_of(FILENAME)
	if (!(from in layer) && !(from in unplaced)) {
		unplaced[from] = 1
		printf "src/%s/: a folder the layer table does not place\n", \
		    from > "/dev/stderr"
		bad++
	}
}
/^[ \t]*#[ \t]*include[ \t]*"/ {
	inc = $0
	sub(/^[ \t]*#[ \t]*include[ \t]*"/, "", inc)
	sub(/".*/, "", inc)
	n++
	if (!(from in layer))
		next
	if (inc ~ /(^|\/)\.\.?\//) {
		fail("\"" inc "\": a relative path; name the header from " \
		    "src/ (folder/file.h)")
		next
	}
	to = index(inc, "/") ? folder_of(inc) : from
	if (to == from || allowed[from] == " * ")
		next
	arrow = name(from) " (" layer[from] ") -> "
	if (!(to in layer)) {
		fail(arrow name(to) " (\"" inc "\"): not a folder of the " \
		    "layer table")
		next
	}
	arrow = arrow name(to) " (" layer[to] ")"
	if (index(allowed[from], " " to " "))
		next
	if (rank[to] > rank[from])
		fail(arrow ", \"" inc "\": runs back up")
	else if (rank[to] == rank[from])
		fail(arrow ", \"" inc "\": sideways between " layer[from] "s")
	else
		fail(arrow ", \"" inc "\": besides its own folder, " \
		    name(from) " may include only " names(allowed[from]))
}
END {
	if (bad > 0) {
		printf "%s: FAIL: %d include(s) against the layers " \
		    "(docs/design.md, \"Layers\")\n", me, bad > "/dev/stderr"
		exit 1
	}
	printf "%s: ok: %d includes in %d files run one way\n", me, n, \
	    ARGC - 1
}
' "${files[@]}"
