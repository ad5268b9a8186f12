#!/usr/bin/env bash
# Store hits of `srcgate serve` against nginx serving the same files from disk
# (sendfile on), both on 127.0.0.1, driven by wrk in one run; then the peak RSS
# of srcgate while 200 clients download a 1 GiB file at once.
#   bench/gateway-vs-nginx.sh
# Environment (all optional):
#   SRCGATE=path        the srcgate binary (default build/srcgate); nothing is built here
#   DURATION=10         seconds per wrk run
#   REPEAT=2            runs per server and case, interleaved; the best run counts
#   SERVER_THREADS=1    srcgate --threads and nginx worker_processes (the same, for fairness)
#   WRK_THREADS=1       wrk -t
#   RSS_CLIENTS=200     concurrent curl downloads of the big file
#   RSS_FILE_MIB=1024   size of the big file
#   RSS_MAX_TIME=60     seconds each download may run (curl --max-time); the peak
#                       is reached once every client is streaming
#   KEEP_TMP=1          keep the temporary directory
# Needs: nginx (Debian nginx-light or nginx), wrk, curl, openssl, taskset
# (util-linux), python3 (to find free ports), about 2.5 GiB in $TMPDIR.
#
# Cases (every request a keep-alive GET of /sha256/<hex>, the URL shape Nix's
# hashed mirrors use; both servers answer the same paths from the same bytes):
#   4 KiB:  1000 distinct files, each wrk connection walks through all of them
#           (a Lua script), wrk -c64; figure of merit requests/s
#   1 MiB:  16 distinct files, walked the same way, wrk -c16; bytes/s
#   64 MiB: one file, wrk -c4; bytes/s
# With 2 or more CPUs the servers run on CPU 0 and wrk (and the curl clients)
# on CPU 1 (taskset), so client and server do not compete for a core; with
# fewer CPUs they share it and the figures say less.
# The nginx configuration (written to the temporary directory, no root needed):
# daemon off, worker_processes SERVER_THREADS, sendfile on, tcp_nopush on,
# access_log off, keepalive_requests 1000000, no open_file_cache (its default).
# srcgate runs with --access-log off, to match nginx's access_log off.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
srcgate=${SRCGATE:-$root/build/srcgate}
duration=${DURATION:-10}
repeat=${REPEAT:-2}
server_threads=${SERVER_THREADS:-1}
wrk_threads=${WRK_THREADS:-1}
rss_clients=${RSS_CLIENTS:-200}
rss_file_mib=${RSS_FILE_MIB:-1024}
rss_max_time=${RSS_MAX_TIME:-60}

die() {
  echo "gateway-vs-nginx: $*" >&2
  exit 1
}
[[ -x $srcgate ]] || die "$srcgate is not an executable; build it (cmake --build build --target srcgate) or set SRCGATE"
nginx_bin=$(command -v nginx || true)
[[ -n $nginx_bin ]] || nginx_bin=/usr/sbin/nginx
[[ -x $nginx_bin ]] || die "nginx is missing (apt-get install nginx-light)"
for tool in wrk curl openssl taskset python3; do
  command -v "$tool" >/dev/null || die "$tool is missing"
done

if (($(nproc) >= 2)); then
  server_cpu=(taskset -c 0)
  client_cpu=(taskset -c 1)
  placement="servers on CPU 0, clients on CPU 1"
else
  server_cpu=()
  client_cpu=()
  placement="one CPU: servers and clients share it"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/srcgate-vs-nginx-XXXXXX")
chmod 755 "$tmp" # nginx workers may run as another user
srcgate_pid=""
nginx_pid=""
curl_pids=()
cleanup() {
  local p
  for p in "${curl_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -n $srcgate_pid ]] && kill "$srcgate_pid" 2>/dev/null && wait "$srcgate_pid" 2>/dev/null
  [[ -n $nginx_pid ]] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
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

# wait_http URL: until it answers 2xx, at most 10 s.
wait_http() {
  local i
  for ((i = 0; i < 100; i++)); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  return 1
}

echo "# srcgate store hits vs nginx static files (loopback)"
echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "commit:   $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "cpu:      $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; $placement"
echo "versions: $("$nginx_bin" -v 2>&1 | sed 's/^nginx version: //'), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "threads:  srcgate --threads $server_threads, nginx worker_processes $server_threads, wrk -t$wrk_threads"
echo "runs:     ${duration} s per wrk run, best of $repeat per server and case, interleaved"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min load average before the run)"
echo

# --- the files -------------------------------------------------------------
src=$tmp/src
mkdir -p "$src/small" "$src/medium"
keystream() { # BYTES: deterministic pseudo-random bytes (ChaCha20 of zeros)
  head -c "$1" /dev/zero | openssl enc -chacha20 -K "$2" -iv 00000000000000000000000000000000
}
key() { printf '%064x' "$1"; }
keystream $((1000 * 4096)) "$(key 1)" | split -b 4096 -a 4 -d - "$src/small/f"
keystream $((16 * 1048576)) "$(key 2)" | split -b 1048576 -a 4 -d - "$src/medium/f"
keystream $((64 * 1048576)) "$(key 3)" >"$src/large"
keystream $((rss_file_mib * 1048576)) "$(key 4)" >"$src/huge"

store=$tmp/store
"$srcgate" import --data "$store" "$src"/small/* "$src"/medium/* "$src/large" "$src/huge" \
  >"$tmp/import.jsonl" 2>"$tmp/import.err" ||
  die "srcgate import failed: $(tail -3 "$tmp/import.err")"

# nginx serves <www>/sha256/<hex>: hard links to the imported files.
www=$tmp/www
mkdir -p "$www/sha256"
python3 - "$tmp/import.jsonl" "$www/sha256" "$tmp" <<'EOF'
import json, os, sys
lines, www, tmp = sys.argv[1], sys.argv[2], sys.argv[3]
groups = {"small": [], "medium": [], "large": [], "huge": []}
for line in open(lines):
    rec = json.loads(line)
    f = rec["file"]
    kind = "small" if "/small/" in f else "medium" if "/medium/" in f else os.path.basename(f)
    groups[kind].append(rec["sha256"])
    dst = os.path.join(www, rec["sha256"])
    if not os.path.exists(dst):
        os.link(f, dst)
for kind, hexes in groups.items():
    with open(os.path.join(tmp, kind + ".paths"), "w") as out:
        for h in hexes:
            out.write("/sha256/" + h + "\n")
EOF
[[ $(wc -l <"$tmp/small.paths") == 1000 && $(wc -l <"$tmp/medium.paths") == 16 ]] ||
  die "expected 1000 + 16 distinct imported files, got $(wc -l <"$tmp/small.paths") + $(wc -l <"$tmp/medium.paths")"
cat "$www"/sha256/* >/dev/null # page cache, for nginx

# --- the servers -----------------------------------------------------------
start_srcgate() {
  srcgate_port=$(free_port)
  # --access-log off: nginx's is off too. --offline: every request is a hit,
  # and a benchmark must not reach the internet.
  "${server_cpu[@]}" "$srcgate" serve --listen "127.0.0.1:$srcgate_port" --data "$store" \
    --threads "$server_threads" --offline --access-log off 2>/dev/null &
  srcgate_pid=$!
  wait_http "http://127.0.0.1:$srcgate_port/readyz" ||
    die "srcgate serve did not become ready on port $srcgate_port (run it by hand to see why)"
}
stop_srcgate() {
  kill "$srcgate_pid" 2>/dev/null || true
  wait "$srcgate_pid" 2>/dev/null || true
  srcgate_pid=""
}

nginx_port=$(free_port)
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
worker_processes $server_threads;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 65s;
  default_type application/octet-stream;
  types {}
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    location /sha256/ { root $www; }
  }
}
EOF
"${server_cpu[@]}" "$nginx_bin" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" &
nginx_pid=$!
start_srcgate

# Both answer the same bytes.
for kind in small medium large; do
  p=$(head -1 "$tmp/$kind.paths")
  want=${p#/sha256/}
  for port in "$srcgate_port" "$nginx_port"; do
    got=$(curl -sf "http://127.0.0.1:$port$p" | openssl dgst -sha256 -r | cut -d' ' -f1) ||
      die "GET $p on port $port failed"
    [[ $got == "$want" ]] || die "GET $p on port $port: sha256 $got, expected $want"
  done
done

# --- wrk -------------------------------------------------------------------
cat >"$tmp/walk.lua" <<'EOF'
-- Each connection's requests walk through the paths in PATHS_FILE, from a
-- per-thread random start; done() prints one machine-readable line.
local paths = {}
for line in io.lines(os.getenv("PATHS_FILE")) do paths[#paths + 1] = line end
local reqs = {}
local i = 0
function init(args)
  for k, p in ipairs(paths) do reqs[k] = wrk.format("GET", p) end
  i = math.random(#reqs) - 1
end
function request()
  i = i % #reqs + 1
  return reqs[i]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d bytes=%d errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, summary.bytes,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
EOF

# cpu_ticks PID...: user+system CPU time of the processes, in clock ticks.
cpu_ticks() {
  local p t=0
  for p in "$@"; do
    t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
  done
  echo "$t"
}
hz=$(getconf CLK_TCK)

# run_wrk PORT KIND CONNECTIONS SERVER_PID...
#   -> "requests/s bytes/s p50_us p99_us server_cpu_seconds_per_GiB_sent"
run_wrk() {
  local out line c0 c1
  c0=$(cpu_ticks "${@:4}")
  out=$(PATHS_FILE="$tmp/$2.paths" "${client_cpu[@]}" wrk -t"$wrk_threads" -c"$3" -d"${duration}s" \
    --timeout 30s -s "$tmp/walk.lua" "http://127.0.0.1:$1") || die "wrk failed on port $1"
  c1=$(cpu_ticks "${@:4}")
  line=$(grep '^RESULT ' <<<"$out") || die "wrk printed no result: $out"
  local requests duration_us bytes errors p50 p99
  requests=$(sed 's/.*requests=\([0-9]*\).*/\1/' <<<"$line")
  duration_us=$(sed 's/.*duration_us=\([0-9]*\).*/\1/' <<<"$line")
  bytes=$(sed 's/.*bytes=\([0-9]*\).*/\1/' <<<"$line")
  errors=$(sed 's/.*errors=\([0-9]*\).*/\1/' <<<"$line")
  p50=$(sed 's/.*p50_us=\([0-9]*\).*/\1/' <<<"$line")
  p99=$(sed 's/.*p99_us=\([0-9]*\).*/\1/' <<<"$line")
  ((errors == 0)) || die "wrk on port $1 ($2): $errors errors (non-2xx, timeouts or socket errors)"
  awk -v r="$requests" -v d="$duration_us" -v b="$bytes" -v p50="$p50" -v p99="$p99" \
    -v cpu="$((c1 - c0))" -v hz="$hz" \
    'BEGIN { printf "%.0f %.0f %d %d %.3f\n", r / (d / 1e6), b / (d / 1e6), p50, p99, cpu / hz / (b / 2^30) }'
}

# best "r b p50 p99" by field F (1 requests/s, 2 bytes/s)
best() { sort -k"$1","$1"nr | head -1; }

nginx_workers=$(pgrep -P "$nginx_pid" | tr '\n' ' ')
[[ -n $nginx_workers ]] || die "no nginx worker process found"
printf '%-6s %5s | %11s %11s %5s | %13s %11s %5s | %14s %5s | %s\n' case conns "srcgate r/s" \
  "nginx r/s" ratio "srcgate MiB/s" "nginx MiB/s" ratio "CPU s/GiB s/n" ratio "p99 ms s/n"
for spec in "4KiB small 64 1" "1MiB medium 16 2" "64MiB large 4 2"; do
  read -r label kind conns field <<<"$spec"
  s_runs=()
  n_runs=()
  for ((r = 0; r < repeat; r++)); do
    s_runs+=("$(run_wrk "$srcgate_port" "$kind" "$conns" "$srcgate_pid")")
    # shellcheck disable=SC2086 # one pid per word
    n_runs+=("$(run_wrk "$nginx_port" "$kind" "$conns" $nginx_workers)")
  done
  read -r s_rps s_bps _ s_p99 s_cpu < <(printf '%s\n' "${s_runs[@]}" | best "$field")
  read -r n_rps n_bps _ n_p99 n_cpu < <(printf '%s\n' "${n_runs[@]}" | best "$field")
  awk -v l="$label" -v c="$conns" -v sr="$s_rps" -v nr="$n_rps" -v sb="$s_bps" -v nb="$n_bps" \
    -v sp="$s_p99" -v np="$n_p99" -v sc="$s_cpu" -v nc="$n_cpu" 'BEGIN {
      printf "%-6s %5d | %11d %11d %5.2f | %13.0f %11.0f %5.2f | %6.2f/%-6.2f %5.2f | %.1f/%.1f\n",
        l, c, sr, nr, sr / nr, sb / 1048576, nb / 1048576, sb / nb, sc, nc, nc / sc,
        sp / 1000, np / 1000 }'
done
echo "(MiB/s: response bytes including headers, as wrk counts them. CPU s/GiB: the server's user+system"
echo " CPU seconds per GiB of responses in that run, srcgate/nginx; its ratio is nginx/srcgate, so >= 1.0 means"
echo " srcgate spends no more CPU than nginx, a figure that other load on the machine disturbs less."
echo " Target: srcgate/nginx >= 1.0 for requests/s at 4 KiB and bytes/s at 1 MiB and 64 MiB.)"
echo

# --- peak RSS under many concurrent downloads --------------------------------
stop_srcgate
kill "$nginx_pid" 2>/dev/null || true
wait "$nginx_pid" 2>/dev/null || true
nginx_pid=""
start_srcgate # a fresh process, so VmHWM covers this phase only (plus start-up)
huge=$(head -1 "$tmp/huge.paths")
rss_kib() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$srcgate_pid/status"; }
base_kib=$(rss_kib VmRSS)
t0=$(date +%s.%N)
for ((c = 0; c < rss_clients; c++)); do
  "${client_cpu[@]}" curl -s -o /dev/null --max-time "$rss_max_time" \
    -w '%{http_code} %{size_download}\n' "http://127.0.0.1:$srcgate_port$huge" \
    >>"$tmp/rss-curl.txt" 2>/dev/null &
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
big=$((rss_file_mib * 1048576))
awk -v n="$rss_clients" -v size="$big" -v base="$base_kib" -v hwm="$hwm_kib" -v samp="$max_sampled" \
  -v t="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" -v mib="$rss_file_mib" \
  -v lim="$rss_max_time" '
  { total += $2; if ($1 == 200 && $2 == size) done++; started += ($2 > 0) }
  END {
    printf "peak RSS, %d concurrent downloads of a %d MiB file (curl --max-time %d s):\n", n, mib, lim
    printf "  VmHWM %.1f MiB (target <= 256 MiB); highest VmRSS sampled %.1f MiB; idle before %.1f MiB\n",
      hwm / 1024, samp / 1024, base / 1024
    printf "  %d of %d clients received bytes, %d completed; %.1f GiB sent in %.1f s (%.0f MiB/s)\n",
      started, n, done, total / 2^30, t, total / 2^20 / t
  }' "$tmp/rss-curl.txt"
