#!/usr/bin/env bash
# Compares the in-process Go benchmarks of a base revision with the working tree, in one run on
# one machine, with benchstat (pinned in go.mod as a tool):
#
#   scripts/benchcmp.sh [BASE] [COUNT]     BASE: a git revision (default HEAD), COUNT: runs each (6)
#
# The base is checked out into a temporary worktree; both are benchmarked alternately, COUNT
# rounds, so that the machine's drift falls on both alike.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/env.sh

base=${1:-HEAD}
count=${2:-6}
pkgs=(./identity/ ./auth/ ./events/ ./profiles/)
bench='^Benchmark'

tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/base" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add --detach "$tmp/base" "$base" >/dev/null

for ((i = 1; i <= count; i++)); do
	echo "round $i of $count" >&2
	(cd "$tmp/base" && go test -run '^$' -bench "$bench" -benchmem -count 1 "${pkgs[@]}") >>"$tmp/base.txt"
	go test -run '^$' -bench "$bench" -benchmem -count 1 "${pkgs[@]}" >>"$tmp/head.txt"
done
go tool benchstat "base=$tmp/base.txt" "working tree=$tmp/head.txt"
