#!/bin/sh
# Requests per second clever-sandbox serves for a typical section roster
# (GET /v3.0/sections/{id}/users?role=student, ~28 students, Library
# token) on one core.  The sandbox must never be a benchmark's bottleneck.
#
# usage: tests/bench/sandbox_rps.sh [SANDBOX_BINARY] [SECONDS] [CONNECTIONS]
# Needs wrk (Debian: apt-get install -y wrk).  Pins the sandbox to CPU 0
# and wrk to the other CPUs when taskset and >1 CPU are available.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-${CLEVER_SANDBOX:-$root/build/tests/sandbox/clever-sandbox}}
secs=${2:-5}
conns=${3:-64}

command -v wrk >/dev/null || { echo "wrk not found (apt-get install -y wrk)" >&2; exit 1; }
[ -x "$bin" ] || { echo "no sandbox binary at $bin" >&2; exit 1; }

tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

pin_srv= pin_cli=
ncpu=$(nproc 2>/dev/null || echo 1)
if command -v taskset >/dev/null && [ "$ncpu" -gt 1 ]; then
	pin_srv="taskset -c 0"
	pin_cli="taskset -c 1-$((ncpu - 1))"
fi

mkfifo "$tmp/out"
# A rate limit far above what the run can reach: measure serving, not 429s.
$pin_srv "$bin" --teachers 50 --seed 7 --rate-limit 1000000000 >"$tmp/out" &
pid=$!
read -r line <"$tmp/out"
case $line in
ready\ *) ;;
*) echo "sandbox did not start: $line" >&2; exit 1 ;;
esac
api=$(echo "$line" | sed 's/.*api=\([^ ]*\).*/\1/')
ctl=$(echo "$line" | sed 's/.*control=\([^ ]*\).*/\1/')

# Teacher 0 is a secondary teacher; take its first section.
set -- $(curl -fsS "$ctl/teachers" | /usr/bin/python3 -c '
import json, sys
t = json.load(sys.stdin)[0]
print(t["token"], t["sections"][0])')
token=$1 section=$2
path="/v3.0/sections/$section/users?role=student"
bytes=$(curl -fsS -H "Authorization: Bearer $token" "$api$path" | wc -c)

threads=$((ncpu > 2 ? ncpu - 1 : 1))
[ "$threads" -gt "$conns" ] && threads=$conns
out=$($pin_cli wrk -t"$threads" -c"$conns" -d"${secs}s" \
    -H "Authorization: Bearer $token" "$api$path")
echo "$out" >&2
rps=$(echo "$out" | awk '/^Requests\/sec/ { printf "%d", $2 }')
non2xx=$(echo "$out" | awk '/Non-2xx/ { print $NF }')
echo "sandbox_rps=$rps body_bytes=$bytes connections=$conns${non2xx:+ non2xx=$non2xx}"
