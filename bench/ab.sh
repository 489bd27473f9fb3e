#!/usr/bin/env bash
# A/B of two commits: their bench/ test binaries run alternately against
# one bench/server process, Reqivo beside net/http with a 30 s timeout.
#
#   bench/ab.sh b30d492 main                          # GET and POST, 9 runs
#   BENCH='^BenchmarkGET64$' BT=2s RUNS=9 bench/ab.sh b30d492 main
#
# Prints each run's lines prefixed old: / new:; the ratio of Reqivo's
# cpu-ns/op to net/http's in the same run is the figure to compare.
set -euo pipefail
. "$(dirname "$0")/server.sh"
old=${1:?old commit} new=${2:?new commit}
RUNS=${RUNS:-9} BENCH=${BENCH:-'^BenchmarkGET$|^BenchmarkPOST$'} BT=${BT:-20000x}
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	git -C "$repo" worktree remove --force "$tmp/old" 2>/dev/null || true
	git -C "$repo" worktree remove --force "$tmp/new" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
for side in old new; do
	git -C "$repo" worktree add -q --detach "$tmp/$side" "${!side}"
	(cd "$tmp/$side/bench" && go test -mod=mod -c -o "$tmp/$side.test" .)
done
(cd "$tmp/new/bench" && go build -mod=mod -o "$tmp/server" ./server)
start_server "$tmp/server" "$tmp/server.out"
for ((r = 0; r < RUNS; r++)); do
	for side in old new; do
		BENCH_CLIENTS=nethttp30s,reqivo "$tmp/$side.test" -test.run='^$' -test.bench="$BENCH" \
			-test.benchmem -test.benchtime="$BT" | grep '^Benchmark' | sed "s/^/$side:/"
	done
done
