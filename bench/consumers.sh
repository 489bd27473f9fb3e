#!/usr/bin/env bash
# What reaches a user's build: for each client (net/http alone, Reqivo,
# resty v3, req v3), a consumer module in a temporary directory outside the
# repository whose main sends one GET; `go mod tidy`, then what its go.sum,
# module graph, module download and binary hold. Prints a Markdown table
# (the one in BENCHMARKS.md, "What reaches a user's build").
#
#   bench/consumers.sh                  # Reqivo from this checkout
#   REQIVO=/path/to/checkout bench/consumers.sh
#   DETAIL=1 bench/consumers.sh         # also print each go.sum and binary's modules
#
# REQIVO   the Reqivo checkout the consumer's `replace` points at (this one)
# RESTY    resty.dev/v3 version (the one bench/ measures)
# REQ      github.com/imroc/req/v3 version (the one bench/ measures)
# CLIENTS  which consumers, of: nethttp reqivo resty req (all four)
# FRESH    1 (default): each consumer starts from an empty module cache, so
#          "downloaded" is what a new machine fetches for it; 0: share
#          the machine's cache and leave that column out
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
REQIVO=${REQIVO:-$(cd "$here/.." && pwd)}
RESTY=${RESTY:-v3.0.0-rc.4}
REQ=${REQ:-v3.54.0}
FRESH=${FRESH:-1}
CLIENTS=${CLIENTS:-nethttp reqivo resty req}

tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
export GOFLAGS=-mod=mod GOWORK=off

# consumer NAME IMPORT BODY [MODULE@VERSION]: writes $tmp/NAME, a module
# whose main imports IMPORT and runs BODY with the URL in u.
consumer() {
	case " $CLIENTS " in *" $1 "*) ;; *) return 0 ;; esac
	local name=$1 imp=$2 body=$3 get=${4:-}
	local dir=$tmp/$name
	mkdir -p "$dir"
	cat >"$dir/main.go" <<EOF
package main

import (
	"context"
	"fmt"
	"os"

	$imp
)

var _ = context.Background

func main() {
	u := "http://127.0.0.1:8080/get"
	if len(os.Args) > 1 {
		u = os.Args[1]
	}
	$body
}
EOF
	(
		cd "$dir"
		go mod init example.com/"$name" >/dev/null 2>&1
		if [ "$name" = reqivo ]; then
			go mod edit -require=github.com/reqivo/reqivo@v0.0.0-00010101000000-000000000000 \
				-replace=github.com/reqivo/reqivo="$REQIVO"
		fi
		if [ -n "$get" ]; then go get "$get" >/dev/null 2>&1; fi
		go mod tidy >/dev/null 2>&1
	)
}

consumer nethttp '"net/http"' '
	resp, err := http.Get(u)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)'

consumer reqivo '"github.com/reqivo/reqivo"' '
	s, err := reqivo.NewSession()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer s.Close()
	resp, err := s.Get(context.Background(), u)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(resp.Status)'

consumer resty '"resty.dev/v3"' '
	c := resty.New()
	defer c.Close()
	resp, err := c.R().Get(u)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(resp.Status())' "resty.dev/v3@$RESTY"

consumer req '"github.com/imroc/req/v3"' '
	resp, err := req.C().R().Get(u)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(resp.Status)' "github.com/imroc/req/v3@$REQ"

mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }

header='| consumer of | go.sum lines | modules in go.sum | of which code (zip hashes) | module graph edges | modules built in | binary | stripped (-s -w) |'
rule='|---|--:|--:|--:|--:|--:|--:|--:|'
if [ "$FRESH" = 1 ]; then
	header="$header downloaded |"
	rule="$rule--:|"
fi
echo "$header"
echo "$rule"
for name in $CLIENTS; do
	dir=$tmp/$name
	cd "$dir"
	if [ "$FRESH" = 1 ]; then
		# A new machine's view: an empty cache, filled by tidy and the build.
		export GOMODCACHE=$tmp/modcache-$name
		rm -f go.sum
		go mod tidy >/dev/null
	fi
	sum=0 mods=0 zips=0
	if [ -f go.sum ]; then
		sum=$(wc -l <go.sum)
		mods=$(cut -d' ' -f1 go.sum | sort -u | wc -l)
		zips=$(grep -vc '/go.mod ' go.sum || true)
	fi
	edges=$(go mod graph | wc -l)
	go build -o bin .
	go build -ldflags='-s -w' -o bin-stripped .
	built=$(go version -m bin | grep -c $'^\tdep' || true)
	row="| $name | $sum | $mods | $zips | $edges | $built | $(mb "$(stat -c %s bin)") | $(mb "$(stat -c %s bin-stripped)") |"
	if [ "$FRESH" = 1 ]; then
		# The cache's download/ holds what was fetched (zips, go.mod files);
		# the extracted trees beside it are the same bytes again.
		dl=0
		if [ -d "$GOMODCACHE/cache/download" ]; then
			dl=$(du -sb "$GOMODCACHE/cache/download" | cut -f1)
		fi
		row="$row $(mb "$dl") |"
	fi
	echo "$row"
	if [ "${DETAIL:-}" = 1 ]; then
		{
			echo "--- $name go.sum"
			cat go.sum 2>/dev/null || true
			echo "--- $name modules built in"
			go version -m bin | grep $'^\tdep' || true
		} >&2
	fi
	cd "$here"
done
