#!/usr/bin/env bash
# Runs the benchmarks against a server in its own process and prints the
# medians as Markdown (the table of BENCHMARKS.md).
#
#   bench/run.sh                 # 5 rounds, every scenario, 1 s per benchmark
#   ROUNDS=3 BENCH='GET$|POST' BENCHTIME=2000x bench/run.sh
#
# ROUNDS     rounds; each runs the clients in another (rotated) order (5)
# BENCH      -bench regexp of the scenarios (.)
# BENCHTIME  -benchtime (1s)
# ASYNC      1: include the async fan-out (needs reqivo.AsyncSession);
#            0: leave it out; unset: include it when it builds
# OUT        where the raw `go test` output goes (bench/results.txt)
set -euo pipefail
. "$(dirname "$0")/server.sh"
cd "$(dirname "$0")"

ROUNDS=${ROUNDS:-5}
BENCH=${BENCH:-.}
BENCHTIME=${BENCHTIME:-1s}
OUT=${OUT:-$PWD/results.txt}

tags=()
case "${ASYNC:-}" in
1) tags=(-tags async) ;;
0) ;;
*) if go vet -tags async . >/dev/null 2>&1; then tags=(-tags async); fi ;;
esac

tmp=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# The HTTP/2 scenarios (h2_test.go) run against Debian's nginx, which the
# benchmarks start themselves on random ports and stop by its PID; install
# it when missing (they skip without it).
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
	{ apt-get update -qq && apt-get install -y -qq nginx; } >&2 || echo "run.sh: nginx not installed; the H2 scenarios will skip" >&2
fi

go build -o "$tmp/server" ./server
go test -c "${tags[@]}" -o "$tmp/bench.test" .

start_server "$tmp/server" "$tmp/server.out"
export BENCH_H2=1

clients=(nethttp nethttp30s defaultclient resty2 resty3 req sling requests reqivo curl)
: >"$OUT"
{
	echo "# $(date -u +%FT%TZ) $(go version) tags=${tags[*]:-none}"
	echo "# ROUNDS=$ROUNDS BENCH=$BENCH BENCHTIME=$BENCHTIME"
} >>"$OUT"
for ((r = 0; r < ROUNDS; r++)); do
	n=${#clients[@]}
	order=()
	for ((i = 0; i < n; i++)); do order+=("${clients[(i + r) % n]}"); done
	order_csv=$(IFS=,; echo "${order[*]}")
	echo "round $((r + 1))/$ROUNDS: $order_csv" >&2
	BENCH_CLIENTS=$order_csv "$tmp/bench.test" -test.run='^$' -test.bench="$BENCH" \
		-test.benchmem -test.benchtime="$BENCHTIME" | tee -a "$OUT" >&2
done

# Stop the server by its PID before the report.
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=

echo "## Results" 
echo
echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(go version | cut -d' ' -f3-), $(uname -sr)."
echo "Command: \`ROUNDS=$ROUNDS BENCH='$BENCH' BENCHTIME=$BENCHTIME bench/run.sh\` (tags: ${tags[*]:-none}; raw output in bench/results.txt)."
echo
go run ./report <"$OUT"
