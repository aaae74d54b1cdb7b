# shellcheck shell=bash disable=SC2034,SC2154 # globals shared with lib.sh and the scripts
# tests/bench/lib_digest.sh -- what digest.sh and digest_readmodel.sh
# share: their options, the demo events service, the digest bodies and
# samples, wrk runs with CPU shares, the tables and notes.  Sourced after
# lib.sh; bash only.
# ---------------------------------------------- POST /v1/digest (digest*) ---
# digest.sh and digest_readmodel.sh: wrk on POST /v1/digest against a
# placesd whose [upstream] events_url is placesd-events with a fixed
# latency, started afresh for each block of runs.

# digest_optvars: optvar (common_optvars) with the digest options and
# their defaults
digest_optvars() {
	common_optvars
	optvar+=([--events]=events_bin [--seed]=seed [--workers]=workers [--pool-size]=pool_size
		[--latency]=latency [--connections]=conns_opt [--threads]=threads [--rounds]=rounds
		[--duration]=duration [--warmup]=warmup [--sample]=sample)
	events_bin=${PLACESD_EVENTS:-} nplaces=20000 seed=1 workers=auto pool_size=4 latency=20
	conns_opt=64,256 threads=2 rounds=3 duration=10s warmup=2s sample=50
}
# usage_digest: the --help lines of digest_optvars' options
usage_digest() {
	cat <<EOF
  --events PATH      the events service, placesd-events (default:
                     \$PLACESD_EVENTS, else placesd-events beside placesd, else
                     src/placesd-events of the build directory)
  --places N         places to seed (default: 20000)
  --seed S           seed of the generator and of the events (default: 1)
  --workers N|auto   placesd workers (default: auto = $(nproc 2>/dev/null || echo '?') online cores)
  --pool-size N      [database] pool_size per worker (default: 4)
  --latency MS       latency of the events service, milliseconds, >= 1
                     (default: 20)
  --connections LIST wrk connection counts, comma separated (default: 64,256)
  --threads T        wrk threads (default: 2; fewer if fewer connections)
  --rounds R         rounds (default: 3)
  --duration D       length of one wrk run, 10s, 1m (default: 10s)
  --warmup D         untimed wrk run at the largest connection count after
                     each placesd start; 0 = none (default: 2s)
  --sample N         digests fetched with curl during each digest run (the
                     latency service) and checked for a non-empty "errors";
                     0 = none (default: 50)
EOF
}

# digest_check_opts: check the options; conns_list, max_c; the binaries
digest_check_opts() {
	local c cl=()
	set_workers
	is_uint "$nplaces" && [ "$nplaces" -le 10000000 ] || die "--places: 1..10000000, not '$nplaces'"
	nplaces=$((10#$nplaces))
	[[ $seed =~ ^[0-9]+$ ]] || die "--seed: a number, not '$seed'"
	is_uint "$pool_size" && [ "$pool_size" -le 64 ] || die "--pool-size: 1..64, not '$pool_size'"
	latency=${latency%ms}
	is_uint "$latency" && [ "$latency" -le 60000 ] || die "--latency: milliseconds, 1..60000, not '$latency' (the 0 ms case is measured anyway)"
	latency=$((10#$latency))
		conns_list=()
	IFS=, read -r -a conns_list <<<"${conns_opt// /,}"
	for c in "${conns_list[@]}"; do
		[ -n "$c" ] || continue
		is_uint "$c" && [ "$c" -le 100000 ] || die "--connections: connection counts 1..100000 separated by commas, not '$conns_opt'"
		case " ${cl[*]} " in *" $((10#$c)) "*) ;; *) cl+=("$((10#$c))") ;; esac
	done
	[ ${#cl[@]} -gt 0 ] || die "--connections: a list such as 64,256"
	conns_list=("${cl[@]}")
	max_c=$(printf '%s\n' "${conns_list[@]}" | sort -n | tail -n 1)
	is_uint "$threads" || die "--threads: a positive integer, not '$threads'"
	is_uint "$rounds" || die "--rounds: a positive integer, not '$rounds'"
	is_duration "$duration" && [ "${duration%[smh]}" -gt 0 ] || die "--duration: e.g. 10s or 1m, not '$duration'"
	[[ $warmup =~ ^0+[smh]?$ ]] && warmup=0
	[ "$warmup" = 0 ] || is_duration "$warmup" || die "--warmup: e.g. 2s or 0, not '$warmup'"
	[[ $sample =~ ^[0-9]+$ ]] && [ "$((10#$sample))" -le 100000 ] || die "--sample: 0..100000, not '$sample'"
	find_binaries events
	need_tools wrk curl
}

# digest_setup: the session (bench_begin), the cluster, placesd's
# configuration, the seeded data, the bodies ($tmp/bodies.txt, one a
# line) and the wrk script ($tmp/digest.lua)
digest_setup() {
	events_pid='' events_port='' events_log='' curl_pid='' failed_reqs=() noisy=0 other_pct=''
	bench_begin dbench digest_cleanup
	declare -gA RPS P50 P99 OTH CPD CPG CEV CCL CID
	start_cluster "$pgdir" "$(pg_max_conn "$pool_size")" 512MB
	max_clients=$((2 * max_c + 1024))
	[ "$max_clients" -lt 4096 ] && max_clients=4096
	conf_server="max_connections = $max_clients"
	digest_conf 9 64m
	seed_cluster --seed "$seed"
	# ------------------------------------------------------------- the bodies ---
	psql_q -c "SELECT id FROM cities WHERE EXISTS (SELECT 1 FROM places WHERE city_id = cities.id) ORDER BY id" \
		>"$tmp/cities.txt" || { note "cannot read the cities"; exit 1; }
	ncities=$(grep -c . "$tmp/cities.txt")
	[ "$ncities" -gt 0 ] || { note "no cities with places in the database"; exit 1; }
	dates="2026-11-20 2026-11-21 2026-11-22 2026-11-23 2026-11-24 2026-11-25 2026-11-26"
	# one body a line: the cities round-robin, the next date after each pass
	awk -v dates="$dates" '{ if ($1 != "") city[n++] = $1 }
		END { nd = split(dates, d, " ")
			for (i = 0; i < n * nd; i++)
				printf "{\"date\":\"%s\",\"city\":\"%s\",\"limit\":10}\n", d[1 + int(i / n)], city[i % n] }' \
		"$tmp/cities.txt" >"$tmp/bodies.txt" || { note "cannot write the bodies"; exit 1; }
	nbodies=$(wc -l <"$tmp/bodies.txt" | tr -d ' ')
	cp "$bench_dir/digest.lua" "$tmp/digest.lua"
}
# digest_conf EVENTS_PORT MAX_BYTES: conf_more for write_placesd_conf:
# [cache] max_bytes, [upstream] to the events service on EVENTS_PORT
digest_conf() {
	conf_more="[cache]
max_bytes = $2

[upstream]
events_url = http://127.0.0.1:$1/events
timeout = 2s
retries = 0
breaker_failures = 1000
keepalive = 512"
}
digest_cleanup() {
	kill_child "${curl_pid:-}"; curl_pid=''
	stop_placesd
	stop_events
}

stop_events() {
	[ -n "${events_pid:-}" ] || return 0
	stop_proc placesd-events "$events_pid" TERM 10
	events_pid=
	if [ "$stop_rc" != 0 ]; then
		note "placesd-events exited with status $stop_rc after SIGTERM (expected 0)"
		problems+=("placesd-events exited with status $stop_rc after SIGTERM (expected 0); see its log ${events_log##*/}")
		[ -s "$events_log" ] && { note "last lines of its log:"; tail -n 20 "$events_log" >&2; }
	fi
}


# check_events: still up?  Else show its log and fail.
check_events() { check_proc placesd-events events_pid "$events_log"; }

# events_requests: the events service's "requests" counter (GET /_control)
events_ctl() {
	curl -s --max-time 5 "http://127.0.0.1:$events_port/_control" 2>/dev/null
}
events_requests() {
	local body n
	body=$(events_ctl)
	n=$(sed -n 's/.*"requests"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p' <<<"$body")
	[ -n "$n" ] || { note "GET /_control of the events service: no \"requests\" in: $(cut -c1-200 <<<"$body")"; exit 1; }
	echo "$n"
}

# start_events NAME DELAY_MS: a fresh placesd-events on a port of its own
# choosing (-l 127.0.0.1:0 -p FILE); sets events_pid, events_port
nev=0
start_events() {
	local name=$1 delay=$2 i
	nev=$((nev + 1))
	events_log=$tmp/events-$nev-$name.log
	rm -f "$tmp/events.port"
	# setsid: its own process group, as placesd
	setsid "$events_bin" -l 127.0.0.1:0 -p "$tmp/events.port" -d "$delay" -s "$seed" -P "$nplaces" \
		</dev/null >"$events_log" 2>&1 &
	events_pid=$!
	for i in $(seq 1 100); do
		check_events
		[ -s "$tmp/events.port" ] && break
		sleep 0.1
	done
	[ -s "$tmp/events.port" ] || { note "placesd-events wrote no port file within 10 s"; tail -n 20 "$events_log" >&2; exit 1; }
	events_port=$(tr -dc '0-9' <"$tmp/events.port")
	[ -n "$events_port" ] || { note "placesd-events: bad port file: $(cat "$tmp/events.port")"; exit 1; }
	events_requests >/dev/null
}

# digest_placesd NAME MAX_BYTES: a fresh placesd (fresh_placesd) whose
# events_url is the running events service's, [cache] max_bytes
# MAX_BYTES; one probe digest then shows that the endpoint is there and
# reaches the events service and the database
digest_placesd() {
	digest_conf "$events_port" "$2"
	fresh_placesd "$1 (start $((nstart + 1)))" "$1"
	probe_digest
}

# probe_digest: POST /v1/digest once; 200 without errors, else fail
probe_digest() {
	local body code
	body=$(curl -s --max-time 10 -H 'Content-Type: application/json' --data-binary "$(head -n 1 "$tmp/bodies.txt")" \
		-w '\n@@%{http_code}' "http://127.0.0.1:$placesd_port/v1/digest" 2>/dev/null)
	code=$(sed -n 's/^@@//p' <<<"$body")
	case $code in
	200) ;;
	404) note "placesd answers POST /v1/digest with 404: this build has no /v1/digest (rebuild it): $(head -n 1 <<<"$body" | cut -c1-200)"; exit 1 ;;
	*) note "POST /v1/digest $(head -n 1 "$tmp/bodies.txt") answered ${code:-nothing}: $(head -n 1 <<<"$body" | cut -c1-300)"; exit 1 ;;
	esac
	grep -q '"errors":\[\]}$' <<<"$(head -n 1 <<<"$body")" ||
		{ note "the probe digest has errors: $(head -n 1 <<<"$body" | grep -o '"errors":.*' | cut -c1-300)"; exit 1; }
}

# upstream_notok M0 M1: the rise of placesd_upstream_requests_total by
# result other than "ok", as "result=N ..." (nothing if none)
upstream_notok() {
	awk 'FNR == 1 { f++ }
		$1 ~ /^placesd_upstream_requests_total\{/ && $1 !~ /result="ok"/ {
			r = $1; sub(/.*result="/, "", r); sub(/".*/, "", r)
			if (!(r in seen)) { seen[r] = 1; order[++n] = r }
			v[r, f] = $2 }
		END { for (i = 1; i <= n; i++) { r = order[i]; d = v[r, 2] - v[r, 1]
			if (d > 0) printf "%s=%.0f ", r, d } }' "$1" "$2"
}
p50_of() { to_ms "$(awk '$1 == "50%" { print $2 }' "$1")"; }

# --------------------------------------------------------------- sample ---
# digest_sample_start OUT: $sample digests with curl, in the background, a second
# after the timed run starts, on one keep-alive connection
digest_sample_start() {
	[ "$sample" -gt 0 ] || return 0
	awk -v n="$sample" -v url="http://127.0.0.1:$placesd_port/v1/digest" '
		{ b[NR] = $0 }
		END { for (i = 0; i < n; i++) {
			s = b[1 + (i * 37 + 11) % NR]; gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s)
			if (i > 0) print "next"
			print "url = \"" url "\""
			print "header = \"Content-Type: application/json\""
			print "data-binary = \"" s "\""
			print "max-time = 10"
			print "silent"
			print "write-out = \"\\n@@%{http_code}\\n\"" } }' "$tmp/bodies.txt" >"$tmp/sample.curl"
	( sleep 1; exec curl -K "$tmp/sample.curl" ) >"$1" 2>/dev/null &
	curl_pid=$!
}
# digest_sample_end OUT: stop it (if the run ended first); sets sample_info,
# sample_got (200 answers), sample_err (of those: a non-empty "errors")
digest_sample_end() {
	sample_info=
	sample_got=0
	sample_err=0
	[ -n "$curl_pid" ] || return 0
	local i code_bad
	for i in $(seq 1 50); do is_running "$curl_pid" || break; sleep 0.1; done
	kill_child "$curl_pid"; curl_pid=
	sample_got=$(grep -c '^@@200$' "$1")
	code_bad=$(grep '^@@' "$1" | grep -vc '^@@200$')
	sample_err=$(grep -v '^@@' "$1" | grep -c '"errors":\[{')
	sample_info="sample: $sample_err/$sample_got with errors; "
	[ "$sample_got" -lt "$sample" ] && sample_info+="(only $sample_got of $sample answered 200 in time) "
	[ "$code_bad" -gt 0 ] && { sample_info+="($code_bad not 200) "; failed_reqs+=("sample: $code_bad answers were not 200"); }
	return 0
}

# run_digest CASE ROUND CONNS SAMPLE: one timed wrk run on POST /v1/digest;
# SAMPLE=1: the curl sample beside it
run_digest() {
	local cs=$1 r=$2 c=$3 smp=$4 k out t0 t1 rc th=$threads info='' e0 e1
	local rps p99 reqs non2xx sock dg part ev nok x5 pge pgt oc werr
	k="$cs@$c,$r"
	[ "$c" -lt "$th" ] && th=$c
	out="$tmp/wrk-r$r-${cs//\//-}-c$c.txt"
	# let whatever the run before left in flight settle
	sleep 0.3
	fetch_metrics "$out.m0" || { note "GET /metrics failed"; exit 1; }
	e0=$(events_requests) || exit 1
	cpu_take "+$placesd_pid" "+$pg_pid" "$events_pid"; t0=$split
	[ "$smp" = 1 ] && digest_sample_start "$out.sample"
	run_bg "$out" wrk -t"$th" -c"$c" -d"$duration" --timeout 10s --latency \
		-s "$tmp/digest.lua" "http://127.0.0.1:$placesd_port" -- "$tmp/bodies.txt"; rc=$?
	sample_info=; sample_err=0; sample_got=0
	[ "$smp" = 1 ] && digest_sample_end "$out.sample"
	cpu_take "+$placesd_pid" "+$pg_pid" "$events_pid"; t1=$split
	other_pct=$(other_pct "$t0" "$t1")
	[ $rc -eq 0 ] || { note "wrk ($cs -c$c, round $r) failed (status $rc):"; cat "$out" >&2; exit 1; }
	grep -q '^Requests/sec:' "$out" || { note "no Requests/sec in wrk output ($cs -c$c, round $r):"; cat "$out" >&2; exit 1; }
	check_placesd
	check_events
	sleep 0.2
	fetch_metrics "$out.m1" || { note "GET /metrics failed after a run"; exit 1; }
	events_ctl >"$out.events"
	e1=$(events_requests) || exit 1
	oc=$(sed -n 's/.*"open_connections"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$out.events")

	read -r rps p99 reqs non2xx sock <<<"$(parse_wrk "$out")"
	RPS[$k]=$rps
	P99[$k]=$p99
	P50[$k]=$(p50_of "$out")
	OTH[$k]=$other_pct
	read -r "CPD[$k]" "CPG[$k]" "CEV[$k]" "CCL[$k]" "CID[$k]" <<<"$(cores_of "$t0" "$t1" 3)"
	if [ "${non2xx:-0}" != 0 ]; then
		failed_reqs+=("$cs -c$c round $r: $non2xx of $reqs answers were not 2xx")
		info+="non-2xx $non2xx "
	fi
	if [ -n "$sock" ]; then
		failed_reqs+=("$cs -c$c round $r: wrk socket errors: ${sock//_/ }")
		info+="errors: ${sock//_/ } "
	fi
	werr=$(sed -n 's/^Digests with errors: \([0-9]*\)$/\1/p' "$out")
	[ -n "$werr" ] || { note "no \"Digests with errors\" line in wrk output ($cs -c$c, round $r): is $tmp/digest.lua's done() run?"; cat "$out" >&2; exit 1; }
	if [ "$werr" -gt 0 ]; then
		info+="with errors $werr "
		failed_reqs+=("$cs -c$c round $r: $werr of $reqs digests (wrk) had a non-empty \"errors\" (first: $(sed -n 's/^First errors: //p' "$out" | cut -c1-200))")
	fi
	d() { echo $(( $(metric "$1" "$out.m1") - $(metric "$1" "$out.m0") )); }
	dg=$(d placesd_digest_requests_total)
	part=$(d placesd_digest_partial_total)
	pge=$(d placesd_pg_errors_total); pgt=$(d placesd_pg_timeouts_total)
	x5=$(( $(awk '/^placesd_http_requests_total\{code_class="5xx"\}/ { print $2 + 0 }' "$out.m1") -
		$(awk '/^placesd_http_requests_total\{code_class="5xx"\}/ { print $2 + 0 }' "$out.m0") ))
	nok=$(upstream_notok "$out.m0" "$out.m1")
	ev=$((e1 - e0))
	# one events call per digest; the digests wrk abandons in flight when
	# it stops (one per connection at most, and the sample's) made their
	# call but are not answered
	info+="calls/digests $ev/$dg "
	info+="rm hits $(d placesd_readmodel_hits_total)/$dg "
	if [ "$ev" -lt "$dg" ] || [ "$ev" -gt $((dg + c + 1)) ]; then
		problems+=("$cs -c$c round $r: the events service counted $ev calls for $dg digests answered (placesd_digest_requests_total): expected one call per digest (up to $((c + 1)) more for the digests abandoned in flight at the end)")
		info+="(MISMATCH) "
	fi
	[ -n "$oc" ] && info+="upstream conns $oc "
	info="$sample_info$info"
	[ "${sample_err:-0}" -gt 0 ] && [ "$smp" = 1 ] &&
		failed_reqs+=("$cs -c$c round $r: $sample_err of $sample_got sampled digests had a non-empty \"errors\" (first: $(grep -m 1 -o '"errors":\[{.*' "$out.sample" | cut -c1-200))")
	if [ "$part" -gt 0 ]; then
		info+="partial $part "
		problems+=("$cs -c$c round $r: placesd_digest_partial_total rose by $part (digests answered with errors[]; wrk saw $werr, the sample ${sample_err:-0})")
	fi
	[ -n "$nok" ] && { info+="upstream not ok: $nok"; problems+=("$cs -c$c round $r: placesd_upstream_requests_total{result!=\"ok\"} rose: ${nok% }"); }
	[ "$pge" -gt 0 ] && { info+="pg errors $pge "; problems+=("$cs -c$c round $r: placesd counted $pge failed database queries"); }
	[ "$pgt" -gt 0 ] && { info+="pg timeouts $pgt "; problems+=("$cs -c$c round $r: placesd counted $pgt database queries past query_timeout"); }
	[ "$x5" -gt 0 ] && { info+="5xx $x5 "; problems+=("$cs -c$c round $r: placesd counted $x5 answers 5xx"); }
	digest_report_run "$cs" "$r" "$c" "$k" "$info"
}

digest_report_run() {
	local k=$4
	printf '%5s  %-10s %5s %9s %8.3f %9.3f %5s  %4.2f/%4.2f/%4.2f/%4.2f %4.2f   %s\n' "$2" "$1" "$3" \
		"$(fmt_rps "${RPS[$k]}")" "${P50[$k]}" "${P99[$k]}" "${OTH[$k]}" \
		"${CPD[$k]}" "${CPG[$k]}" "${CEV[$k]}" "${CCL[$k]}" "${CID[$k]}" "$5"
	[ "${OTH[$k]:-0}" -gt 10 ] && noisy=$((noisy + 1))
	return 0
}
digest_table_head() {
	printf '%5s  %-10s %5s %9s %8s %9s %5s  %-19s %4s   %s\n' round case conns "req/s" "p50 ms" "p99 ms" "oth%" \
		"cores pd/pg/ev/cl" idle notes
	printf '%s\n' "--------------------------------------------------------------------------------------------------------------"
}

digest_warmup() {
	[ "$warmup" = 0 ] && return 0
	local th=$threads
	[ "$max_c" -lt "$th" ] && th=$max_c
	run_bg "$tmp/wrk-warmup-$nstart.txt" wrk -t"$th" -c"$max_c" -d"$warmup" --timeout 10s \
		-s "$tmp/digest.lua" "http://127.0.0.1:$placesd_port" -- "$tmp/bodies.txt" ||
		{ note "wrk (untimed warm-up) failed:"; cat "$tmp/wrk-warmup-$nstart.txt" >&2; exit 1; }
}

# conns_order ROUND: the connection counts, reversed in even rounds
conns_order() {
	if [ $(($1 % 2)) -eq 1 ]; then printf '%s\n' "${conns_list[@]}"
	else printf '%s\n' "${conns_list[@]}" | tac; fi
}

# block_latency ROUND: the events service at --latency: digest/c1 and
# digest at each connection count, with the read model on; digest/off at
# each count with it off; the two in alternating order

# block_latency ROUND MODES C1: the events service at --latency; for each
# read model mode of MODES (on: [cache] max_bytes 64m, off: 0; reversed in
# even rounds) a fresh placesd and digest at each connection count
# (digest/off with the read model off when MODES is "on off"); C1=1:
# digest/c1 as well, first in odd rounds and last in even ones
block_latency() {
	local r=$1 c m cs mb name modes=$2
	[ $((r % 2)) -eq 0 ] && modes=$(tr ' ' '\n' <<<"$modes" | tac | tr '\n' ' ')
	for m in $modes; do
		cs=digest mb=64m name=d$latency
		[ "$m" = off ] && mb=0
		[ "$m" = off ] && [ "$2" = "on off" ] && cs=digest/off name=d$latency-off
		start_events "d$latency" "$latency"
		digest_placesd "$name" "$mb"
		digest_warmup
		[ "$3" = 1 ] && [ $((r % 2)) -eq 1 ] && run_digest digest/c1 "$r" 1 0
		for c in $(conns_order "$r"); do
			run_digest "$cs" "$r" "$c" 1
		done
		[ "$3" = 1 ] && [ $((r % 2)) -eq 0 ] && run_digest digest/c1 "$r" 1 0
		stop_placesd
		stop_events
	done
}

# digest_run TITLE RM_LINE EV_LINE: the printout's head (RM_LINE: the read
# model's, EV_LINE: the events service's), the events service's own
# latency, then each round (the script's digest_round ROUND) and the legend
digest_run() {
	local ev_ms=() r
	echo "$1  $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
	echo "  placesd:    $placesd_bin ($("$placesd_bin" -V 2>/dev/null | head -n 1)), workers $workers, pool_size $pool_size"
	echo "  upstream:   timeout 2s, retries 0, breaker_failures 1000, keepalive 512"
	echo "  read model: $2"
	echo "  events:     $events_bin, $3"
	echo "  PostgreSQL: $(pg_version) ($pg_bindir), Unix socket, fsync off, shared_buffers 512MB"
	echo "  data:       $nplaces places, $seeded_menu menu items, $seeded_offers offers (seed $seed; seeded in ${t_seed} s), $ncities cities with places"
	echo "  bodies:     $nbodies: {\"date\":D,\"city\":C,\"limit\":10}, the $ncities cities round-robin, D in ${dates%% *}..${dates##* }"
	echo "  wrk:        -t$threads (at most one per connection) -c ${conns_list[*]} and 1 -d$duration --latency; warm-up -c$max_c -d$warmup"
	echo "  rounds:     $rounds, order alternates each round; curl sample of $sample digests per digest run"
	machine_line "clients, servers and PostgreSQL"
	warn_busy

	# the events service's own latency, as a client sees it
	start_events check "$latency"
	for _ in 1 2 3 4 5; do
		ev_ms+=("$(curl -s -o /dev/null --max-time 10 -w '%{time_total}' \
			"http://127.0.0.1:$events_port/events/2026-11-23?city=$(head -n 1 "$tmp/cities.txt")" |
			awk '{ printf "%.3f", $1 * 1000 }')")
	done
	stop_events
	echo "  check:      GET /events on placesd-events -d $latency answers in $(median "${ev_ms[@]}") ms (median of 5, curl)"
	echo

	digest_table_head
	for r in $(seq 1 "$rounds"); do
		digest_round "$r"
	done
	echo "cores pd/pg/ev/cl = CPU time in cores of placesd, PostgreSQL, the events service and the clients (wrk, curl); idle = cores left idle"
	echo "oth% = share of all CPU time used by other processes during that run"
}

# cores_med KEY: the median cores of each kind, "PD/PG/EV/CL IDLE"
cores_med() {
	printf '%.2f/%.2f/%.2f/%.2f %.2f' "$(med_rounds CPD "$1")" "$(med_rounds CPG "$1")" "$(med_rounds CEV "$1")" \
		"$(med_rounds CCL "$1")" "$(med_rounds CID "$1")"
}

# digest_problems: the noisy runs, what placesd and PostgreSQL logged, to
# problems; then the failed requests, if any
digest_problems() {
	local f n
	[ "$noisy" -gt 0 ] && problems+=("$noisy run(s) shared the machine with other busy processes (oth% > 10): those figures are noisy, rerun on a quiet machine")
	for f in "$tmp"/placesd-*.log; do
		[ -s "$f" ] || continue
		n=$(wc -l <"$f" | tr -d ' ')
		problems+=("placesd logged $n line(s) at warn or above in ${f##*/}: $(head -n 3 "$f" | tr '\n' '|' | cut -c1-300)")
	done
	pg_log_problems
	echo
	fail_banner "REQUESTS FAILED: the figures above count failed requests too" "${failed_reqs[@]}"
}
# digest_notes: the notes, or that there were none
digest_notes() {
	if [ ${#problems[@]} -eq 0 ] && [ ${#failed_reqs[@]} -gt 0 ]; then
		echo "No further notes: one events call per digest, no upstream failures, no database errors or timeouts, nothing logged."
	else
		print_notes "No non-2xx answers, no socket errors, no digests with errors, one events call per digest, no upstream failures, no database errors or timeouts, nothing logged."
	fi
}
