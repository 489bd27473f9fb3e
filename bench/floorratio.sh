#!/usr/bin/env bash
# Reqivo against a hand-written floor, CPU per op as a ratio: the floor and
# the other clients run in turn, pass after pass, against one bench/server
# process, and each client's CPU is divided by the floor's of the same pass.
# The median of those per-pass ratios is the figure: a pass is disturbed
# (a garbage collection's stop-the-world, a busy vCPU) as a whole, so the
# ratio within a pass moves less than either number.
#
#   bench/floorratio.sh                                   # SSE small and spec, 9 passes
#   BENCH=JSONLines BT=300000x bench/floorratio.sh
#   CLIENTS=floor,floor+string,reqivo PASSES=15 bench/floorratio.sh
#
# Prints, per case and client, the medians (and ranges) of the per-pass
# ratios of cpu-ns/op (user+system), user-ns/op and sys-ns/op.
set -euo pipefail
. "$(dirname "$0")/server.sh"
BENCH=${BENCH:-'SSE/^(small|spec)$'} BT=${BT:-3000000x} PASSES=${PASSES:-9}
CLIENTS=${CLIENTS:-floor,reqivo}
dir=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
(cd "$dir" && go test -mod=mod -c -o "$tmp/bench.test" . && go build -mod=mod -o "$tmp/server" ./server)
start_server "$tmp/server" "$tmp/server.out"
for ((p = 0; p < PASSES; p++)); do
	for c in ${CLIENTS//,/ }; do
		"$tmp/bench.test" -test.run='^$' -test.bench="$BENCH/^${c//+/\\+}\$" -test.benchtime="$BT" |
			grep '^Benchmark' | sed "s/^/$p /"
	done
done | awk '
function median(s,   n, a, i, j, t) {
	n = split(s, a, " ")
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return sprintf("%.2fx (%.2f-%.2f)", n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2, a[1], a[n])
}
{
	name = $2; sub(/^Benchmark/, "", name); sub(/-[0-9]+$/, "", name)
	k = name; sub(/\/[^\/]*$/, "", k); c = name; sub(/^.*\//, "", c)
	for (i = 3; i < NF; i++) if ($(i+1) ~ /^(cpu|user|sys)-ns\/op$/) v[$1, k, c, $(i+1)] = $i
	if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
	if (!((k, c) in seenc)) { seenc[k, c] = 1; clients[k] = clients[k] " " c }
	passes[$1] = 1
}
END {
	printf "%-12s %-14s %-22s %-22s %-22s\n", "case", "client", "cpu vs floor", "user vs floor", "sys vs floor"
	for (i = 1; i <= nk; i++) {
		k = order[i]; nc = split(clients[k], cs, " ")
		for (j = 1; j <= nc; j++) {
			c = cs[j]; line = sprintf("%-12s %-14s", k, c)
			split("cpu-ns/op user-ns/op sys-ns/op", us, " ")
			for (u = 1; u <= 3; u++) {
				s = ""
				for (p in passes) if ((p, k, "floor", us[u]) in v && v[p, k, "floor", us[u]] > 0) s = s " " v[p, k, c, us[u]] / v[p, k, "floor", us[u]]
				line = line sprintf(" %-22s", median(s))
			}
			print line
		}
	}
}'
