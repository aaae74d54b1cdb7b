#!/bin/bash
# check-docs.sh: every configuration key is documented, and nothing else is.
#
# The key table is src/common/config.c: one line per key, starting with
#     CONF_KEY("section", "key", "default", ..., restart_only),
# For each key this checks that
#   - man/placesd.conf.5 has ".It Ic key" under ".Sh SECTION SECTION"
#     (e.g. ".Sh SERVER SECTION" for [server]), states "The default is"
#     and says "Restart only" exactly when the table marks the key so;
#   - etc/placesd.conf has the key, commented out (";key = default") or not,
#     under its "[section]" header, and its ";;" comment says "Restart only"
#     exactly when the table does;
#   - the default agrees in all three places ("empty" in the man page stands
#     for an empty value). When the third argument of CONF_KEY is not a
#     string literal, or the last one is not true/false, the table side of
#     that comparison is skipped.
# It also fails on stale docs: a key or section in either file that is not
# in the table. If the daemon is built, "placesd -t" must accept
# etc/placesd.conf as shipped and with every key uncommented.
#
# Run by "make check" with top_srcdir and top_builddir exported (absolute).
# Exit: 0 ok, 1 a check failed, 99 the key table cannot be read.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(dirname "$here")}
top_builddir=${top_builddir:-$top_srcdir}

config_c=$top_srcdir/src/common/config.c
man5=$top_srcdir/man/placesd.conf.5
etc=$top_srcdir/etc/placesd.conf
placesd=$top_builddir/src/placesd

me=check-docs
if [ ! -r "$config_c" ]; then
	echo "$me: ERROR: $config_c not found: cannot list the keys" >&2
	exit 99
fi
for f in "$man5" "$etc"; do
	if [ ! -r "$f" ]; then
		echo "$me: FAIL: $f not found" >&2
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-docs.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

# All intermediate lists are tab-separated: section, key, default,
# restart-only flag. "?" means unknown; an empty default is "".

# The table.
awk '
/^[[:space:]]*CONF_KEY\([[:space:]]*"[a-z0-9_]*"[[:space:]]*,[[:space:]]*"[a-z0-9_]*"[[:space:]]*,/ {
	l = $0
	sub(/^[[:space:]]*CONF_KEY\([[:space:]]*"/, "", l)
	s = l; sub(/".*/, "", s)
	sub(/^[a-z0-9_]*"[[:space:]]*,[[:space:]]*"/, "", l)
	k = l; sub(/".*/, "", k)
	sub(/^[a-z0-9_]*"[[:space:]]*,[[:space:]]*/, "", l)
	d = "?"
	if (l ~ /^"[^"\\]*"[[:space:]]*,/) {
		d = l
		sub(/^"/, "", d)
		sub(/".*/, "", d)
	}
	r = "?"
	if ($0 ~ /,[[:space:]]*true[[:space:]]*\)[[:space:]]*,?[[:space:]]*$/)
		r = "true"
	else if ($0 ~ /,[[:space:]]*false[[:space:]]*\)[[:space:]]*,?[[:space:]]*$/)
		r = "false"
	printf "%s\t%s\t%s\t%s\n", s, k, d, r
}
' "$config_c" > "$tmp/table"
if [ ! -s "$tmp/table" ]; then
	echo "$me: ERROR: no CONF_KEY(\"section\", \"key\", lines in $config_c" >&2
	exit 99
fi

# The man page. The section is the first word of the enclosing
# ".Sh WORD SECTION", lowercased; under any other .Sh it is "-". The text
# of an item is its lines with mdoc macro names dropped; the arguments of
# .Dq/.Qq are put in double quotes. The default is the quoted string or the
# word after "The default is", without trailing punctuation.
awk '
function flush(   t, d, i, r) {
	if (key == "")
		return
	t = text
	gsub(/[[:space:]]+/, " ", t)
	d = "?"
	if ((i = index(t, "The default is ")) > 0) {
		d = substr(t, i + 15)
		if (d ~ /^"/) {
			d = substr(d, 2)
			sub(/".*/, "", d)
		} else {
			sub(/ .*/, "", d)
			sub(/[.,:;]+$/, "", d)
			if (d == "empty")
				d = ""
		}
	}
	r = (index(t, "Restart only") > 0) ? "true" : "false"
	printf "%s\t%s\t%s\t%s\n", sect, key, d, r
	key = ""
}
BEGIN { sect = "-"; key = "" }
/^\.\\"/ { next }
/^\.Sh / {
	flush()
	sect = "-"
	if (NF == 3 && $3 == "SECTION")
		sect = tolower($2)
	next
}
/^\.It Ic [a-z0-9_]+([[:space:]]|$)/ {
	flush()
	key = $3
	text = ""
	next
}
/^\.(It|El)([[:space:]]|$)/ { flush(); next }
key != "" {
	line = $0
	if (line ~ /^\.(Dq|Qq)[[:space:]]/) {
		sub(/^\.[A-Za-z]+[[:space:]]+/, "", line)
		p = ""
		while (match(line, /[[:space:]]+[.,:;]$/)) {
			p = substr(line, RSTART + RLENGTH - 1) p
			line = substr(line, 1, RSTART - 1)
		}
		line = "\"" line "\"" p
	} else if (line ~ /^\./) {
		sub(/^\.[A-Za-z]+[[:space:]]*/, "", line)
	}
	text = text " " line
}
END { flush() }
' "$man5" > "$tmp/man"

# etc/placesd.conf: a key line is "key = value", optionally commented with
# one ";" or "#"; ";;" lines are prose, and the prose right above a key
# line is its description.
awk '
BEGIN { sect = "-"; prose = "" }
/^[[:space:]]*\[[^]]*\][[:space:]]*$/ {
	s = $0
	gsub(/^[[:space:]]*\[|\][[:space:]]*$/, "", s)
	sect = s
	prose = ""
	next
}
/^[[:space:]]*;;/ { prose = prose " " $0; next }
/^[[:space:]]*[;#]?[[:space:]]*[a-z0-9_]+[[:space:]]*=/ {
	l = $0
	sub(/^[[:space:]]*[;#]?[[:space:]]*/, "", l)
	k = l
	sub(/[[:space:]]*=.*/, "", k)
	v = l
	sub(/^[^=]*=[[:space:]]*/, "", v)
	sub(/[[:space:]]+$/, "", v)
	r = (index(prose, "Restart only") > 0) ? "true" : "false"
	printf "%s\t%s\t%s\t%s\n", sect, k, v, r
	prose = ""
	next
}
{ prose = "" }
' "$etc" > "$tmp/etc"

# Section names, from each source.
cut -f 1 "$tmp/table" | sort -u > "$tmp/table.sections"
sed -n 's/^\.Sh \([A-Z0-9_]*\) SECTION$/\1/p' "$man5" | tr 'A-Z' 'a-z' |
	sort -u > "$tmp/man.sections"
sed -n 's/^[[:space:]]*\[\([^]]*\)\][[:space:]]*$/\1/p' "$etc" |
	sort -u > "$tmp/etc.sections"

fail=0
problem() {
	echo "$me: FAIL: $*" >&2
	fail=1
}
# lookup FILE SECTION KEY: the first matching line of a list
lookup() {
	awk -F '\t' -v s="$2" -v k="$3" '$1 == s && $2 == k { print; exit }' "$1"
}
# has_key FILE KEY: the key appears under any section
has_key() {
	awk -F '\t' -v k="$2" '$2 == k { f = 1 } END { exit !f }' "$1"
}
upper() {
	printf '%s' "$1" | tr 'a-z' 'A-Z'
}
show() {
	if [ -z "$1" ]; then printf 'empty'; else printf '"%s"' "$1"; fi
}

# Duplicates in the table.
cut -f 1,2 "$tmp/table" | tr '\t' . | sort | uniq -d > "$tmp/dups"
while read -r k; do
	problem "src/common/config.c lists $k more than once"
done < "$tmp/dups"

# Every key documented in both places, under the right section, alike.
while IFS=$'\t' read -r s k tdef tro; do
	mline=$(lookup "$tmp/man" "$s" "$k")
	eline=$(lookup "$tmp/etc" "$s" "$k")
	mdef=? mro=? edef=? ero=?
	if [ -n "$mline" ]; then
		IFS=$'\t' read -r _ _ mdef mro <<< "$mline"
	elif has_key "$tmp/man" "$k"; then
		problem "$s.$k: man/placesd.conf.5 documents it outside .Sh $(upper "$s") SECTION"
	else
		problem "$s.$k: missing from man/placesd.conf.5 (no \".It Ic $k\")"
	fi
	if [ -n "$eline" ]; then
		IFS=$'\t' read -r _ _ edef ero <<< "$eline"
	elif has_key "$tmp/etc" "$k"; then
		problem "$s.$k: etc/placesd.conf has it outside [$s]"
	else
		problem "$s.$k: missing from etc/placesd.conf (expected \";$k = <default>\" under [$s])"
	fi

	if [ -n "$mline" ] && [ "$mdef" = "?" ]; then
		problem "$s.$k: man/placesd.conf.5 does not say \"The default is\""
		mdef=?
	fi
	if [ "$tdef" != "?" ]; then
		if [ -n "$mline" ] && [ "$mdef" != "?" ] && [ "$mdef" != "$tdef" ]; then
			problem "$s.$k: default is $(show "$tdef") in src/common/config.c but $(show "$mdef") in man/placesd.conf.5"
		fi
		if [ -n "$eline" ] && [ "$edef" != "$tdef" ]; then
			problem "$s.$k: default is $(show "$tdef") in src/common/config.c but $(show "$edef") in etc/placesd.conf"
		fi
	elif [ -n "$mline" ] && [ -n "$eline" ] && [ "$mdef" != "?" ] &&
	    [ "$mdef" != "$edef" ]; then
		problem "$s.$k: default is $(show "$mdef") in man/placesd.conf.5 but $(show "$edef") in etc/placesd.conf"
	fi

	if [ "$tro" != "?" ]; then
		if [ -n "$mline" ] && [ "$mro" != "$tro" ]; then
			if [ "$tro" = true ]; then
				problem "$s.$k: restart only in src/common/config.c; man/placesd.conf.5 must say \"Restart only\""
			else
				problem "$s.$k: reloadable in src/common/config.c; man/placesd.conf.5 says \"Restart only\""
			fi
		fi
		if [ -n "$eline" ] && [ "$ero" != "$tro" ]; then
			if [ "$tro" = true ]; then
				problem "$s.$k: restart only in src/common/config.c; its comment in etc/placesd.conf must say \"Restart only\""
			else
				problem "$s.$k: reloadable in src/common/config.c; its comment in etc/placesd.conf says \"Restart only\""
			fi
		fi
	fi
done < "$tmp/table"

# Stale keys: documented but not in the table, or under the wrong section.
while IFS=$'\t' read -r s k _; do
	if [ "$s" = "-" ]; then
		problem "$k: man/placesd.conf.5 has \".It Ic $k\" outside any \".Sh NAME SECTION\""
	elif [ -z "$(lookup "$tmp/table" "$s" "$k")" ]; then
		problem "$s.$k: in man/placesd.conf.5 but not in src/common/config.c (stale)"
	fi
done < "$tmp/man"
while IFS=$'\t' read -r s k _; do
	if [ "$s" = "-" ]; then
		problem "$k: etc/placesd.conf has it before any [section] header"
	elif [ -z "$(lookup "$tmp/table" "$s" "$k")" ]; then
		problem "$s.$k: in etc/placesd.conf but not in src/common/config.c (stale)"
	fi
done < "$tmp/etc"
for f in man etc; do
	cut -f 1,2 "$tmp/$f" | tr '\t' . | sort | uniq -d > "$tmp/dups"
	while read -r k; do
		problem "$k: listed more than once in $([ $f = man ] && echo man/placesd.conf.5 || echo etc/placesd.conf)"
	done < "$tmp/dups"
done

# Sections.
for s in $(comm -23 "$tmp/table.sections" "$tmp/man.sections"); do
	problem "[$s]: man/placesd.conf.5 has no \".Sh $(upper "$s") SECTION\""
done
for s in $(comm -13 "$tmp/table.sections" "$tmp/man.sections"); do
	problem "[$s]: section in man/placesd.conf.5 but not in src/common/config.c (stale)"
done
for s in $(comm -23 "$tmp/table.sections" "$tmp/etc.sections"); do
	problem "[$s]: etc/placesd.conf has no [$s] header"
done
for s in $(comm -13 "$tmp/table.sections" "$tmp/etc.sections"); do
	problem "[$s]: section in etc/placesd.conf but not in src/common/config.c (stale)"
done

# The shipped file parses, and so does every default written out.
if [ -x "$placesd" ]; then
	sed -e 's/^[;#]\([a-z0-9_][a-z0-9_]*[[:space:]]*=\)/\1/' "$etc" > "$tmp/uncommented.conf"
	for f in "$etc" "$tmp/uncommented.conf"; do
		if ! out=$("$placesd" -t -c "$f" 2>&1); then
			problem "placesd -t rejects $(basename "$f"):"
			printf '%s\n' "$out" | sed 's/^/    /' >&2
		fi
	done
else
	echo "$me: note: $placesd not built; placesd -t not run"
fi

n=$(wc -l < "$tmp/table")
if [ "$fail" -ne 0 ]; then
	echo "$me: FAIL: docs do not match the $n keys of src/common/config.c" >&2
	exit 1
fi
echo "$me: ok: $n keys documented in man/placesd.conf.5 and etc/placesd.conf"
exit 0
