#!/usr/bin/env bash
# Peak RSS of `srcgate serve` while many clients download one large stored
# file at once (issue 4: 200 clients, 1 GiB, target <= 256 MiB): the RSS phase
# of bench/gateway-vs-nginx.sh on its own, without nginx and wrk, repeatable.
#   bench/gateway-rss.sh
# Environment (all optional):
#   SRCGATE=path        the srcgate binary (default build/srcgate); nothing is built here
#   RUNS=1              fresh server processes measured one after the other
#   RSS_CLIENTS=200     concurrent curl downloads of the big file
#   RSS_FILE_MIB=1024   size of the big file
#   RSS_MAX_TIME=60     seconds each download may run (curl --max-time); the peak
#                       is reached once every client is streaming
#   SERVER_THREADS=1    srcgate --threads
#   STORE=dir           reuse this store (made by an earlier run with KEEP_TMP=1:
#                       <tmp>/store) instead of writing and importing the file
#   KEEP_TMP=1          keep the temporary directory (and its store)
# Needs: curl, openssl, taskset (util-linux), python3 (to find free ports),
# about 2.2 GiB in $TMPDIR unless STORE is given.
# With 2 or more CPUs the server runs on CPU 0 and the curl clients on CPU 1.
# Each run starts a fresh server, so its VmHWM (/proc/<pid>/status) covers
# start-up and that run only.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
srcgate=${SRCGATE:-$root/build/srcgate}
runs=${RUNS:-1}
rss_clients=${RSS_CLIENTS:-200}
rss_file_mib=${RSS_FILE_MIB:-1024}
rss_max_time=${RSS_MAX_TIME:-60}
server_threads=${SERVER_THREADS:-1}

die() {
  echo "gateway-rss: $*" >&2
  exit 1
}
[[ -x $srcgate ]] || die "$srcgate is not an executable; build it (cmake --build build --target srcgate) or set SRCGATE"
for tool in curl openssl taskset python3; do
  command -v "$tool" >/dev/null || die "$tool is missing"
done
if (($(nproc) >= 2)); then
  server_cpu=(taskset -c 0)
  client_cpu=(taskset -c 1)
  placement="server on CPU 0, clients on CPU 1"
else
  server_cpu=()
  client_cpu=()
  placement="one CPU: server and clients share it"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/srcgate-rss-XXXXXX")
srcgate_pid=""
curl_pids=()
cleanup() {
  local p
  for p in "${curl_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -n $srcgate_pid ]] && kill "$srcgate_pid" 2>/dev/null && wait "$srcgate_pid" 2>/dev/null
  if [[ ${KEEP_TMP:-} == 1 ]]; then
    echo "kept $tmp" >&2
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

echo "# srcgate peak RSS, concurrent downloads of one stored file (loopback)"
echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "commit:   $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "cpu:      $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; $placement"
echo "server:   srcgate --threads $server_threads; $rss_clients curl clients, --max-time $rss_max_time s"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min load average before the run)"
echo

# The file: ChaCha20 keystream (the bytes gateway-vs-nginx.sh uses for its big file).
big=$((rss_file_mib * 1048576))
if [[ -n ${STORE:-} ]]; then
  store=$STORE
  [[ -f $store/sha256 ]] || die "$store has no sha256 file: make it with KEEP_TMP=1 first"
else
  store=$tmp/store
  head -c "$big" /dev/zero |
    openssl enc -chacha20 -K "$(printf '%064x' 4)" -iv 00000000000000000000000000000000 >"$tmp/huge"
  mkdir -p "$store"
  "$srcgate" import --data "$store/data" "$tmp/huge" >"$tmp/import.json" 2>"$tmp/import.err" ||
    die "srcgate import failed: $(tail -3 "$tmp/import.err")"
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["sha256"])' "$tmp/import.json" \
    >"$store/sha256"
  rm -f "$tmp/huge"
fi
sha=$(cat "$store/sha256")

# --offline where the binary has it: no upstream I/O (every request here is a hit).
offline=()
"$srcgate" serve --help 2>&1 | grep -q -- '--offline' && offline=(--offline)

rss_kib() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$srcgate_pid/status"; }

for ((run = 1; run <= runs; run++)); do
  port=$(free_port)
  "${server_cpu[@]}" "$srcgate" serve --listen "127.0.0.1:$port" --data "$store/data" \
    --threads "$server_threads" "${offline[@]}" 2>/dev/null &
  srcgate_pid=$!
  ready=0
  for ((i = 0; i < 100; i++)); do # at most 10 s
    if curl -sf -o /dev/null "http://127.0.0.1:$port/readyz"; then
      ready=1
      break
    fi
    sleep 0.1
  done
  ((ready)) || die "srcgate serve did not become ready on port $port (run it by hand to see why)"
  base_kib=$(rss_kib VmRSS)
  : >"$tmp/curl.txt"
  t0=$(date +%s.%N)
  for ((c = 0; c < rss_clients; c++)); do
    "${client_cpu[@]}" curl -s -o /dev/null --max-time "$rss_max_time" \
      -w '%{http_code} %{size_download}\n' "http://127.0.0.1:$port/sha256/$sha" \
      >>"$tmp/curl.txt" 2>/dev/null &
    curl_pids+=($!)
  done
  max_sampled=0
  for ((i = 0; i < (rss_max_time + 10) * 4; i++)); do # bounded: curl's own limit + 10 s
    now=$(rss_kib VmRSS)
    now=${now:-0}
    ((now > max_sampled)) && max_sampled=$now
    alive=0
    for p in "${curl_pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
    ((alive == 0)) && break
    sleep 0.25
  done
  for p in "${curl_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  curl_pids=()
  t1=$(date +%s.%N)
  hwm_kib=$(rss_kib VmHWM)
  # user + system CPU ticks of the server (fields 14 and 15 of /proc/<pid>/stat)
  cpu_ticks=$(awk '{ print $14 + $15 }' "/proc/$srcgate_pid/stat")
  kill "$srcgate_pid" 2>/dev/null || true
  wait "$srcgate_pid" 2>/dev/null || true
  srcgate_pid=""
  awk -v run="$run" -v n="$rss_clients" -v size="$big" -v base="$base_kib" -v hwm="$hwm_kib" \
    -v samp="$max_sampled" -v t="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
    -v cpu="$(awk -v c="$cpu_ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { print c / hz }')" '
    { total += $2; if ($1 == 200 && $2 == size) done++; started += ($2 > 0) }
    END {
      printf "run %d: VmHWM %.1f MiB (target <= 256 MiB); highest VmRSS sampled %.1f MiB; idle before %.1f MiB\n",
        run, hwm / 1024, samp / 1024, base / 1024
      printf "       %d of %d clients received bytes, %d completed; %.1f GiB sent in %.1f s (%.0f MiB/s); server CPU %.2f s/GiB\n",
        started, n, done, total / 2^30, t, total / 2^20 / t, cpu / (total / 2^30)
    }' "$tmp/curl.txt"
done
