# Sourced by the bench scripts (run.sh, ab.sh, floorratio.sh).
#
# start_server BIN OUT starts the bench server BIN in the background, its
# output in OUT, sets pid (for the script's cleanup) and exports
# BENCH_SERVER, the address the benchmarks read; the script exits if the
# server does not start.
start_server() {
	"$1" >"$2" &
	pid=$!
	for _ in $(seq 100); do
		grep -q '^BENCH_SERVER=' "$2" 2>/dev/null && break
		sleep 0.1
	done
	local line
	line=$(grep '^BENCH_SERVER=' "$2") || { echo "$(basename "$0"): the server did not start" >&2; exit 1; }
	export BENCH_SERVER=${line#BENCH_SERVER=}
}
