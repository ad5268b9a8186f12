#!/usr/bin/env bash
# The miss path of `srcgate serve` against its upstream and against nginx
# proxy_cache, in one run on 127.0.0.1 (issue 5's benchmark):
#   1. a cold 1 GiB miss through srcgate beside curl straight from the origin:
#      throughput ratio (target >= 0.9) and time-to-first-byte overhead
#      (target <= 5 ms); once from an unlimited origin, once from the
#      rate-limited one; then the time to first byte of TTFB_SAMPLES more cold
#      misses of small distinct objects, each beside a direct request;
#   2. CLIENTS concurrent clients on one cold 256 MiB object through srcgate
#      beside nginx proxy_cache with proxy_cache_lock on, in front of the same
#      rate-limited origin: upstream requests (target 1), best, median and
#      worst time to first byte, total time (target: srcgate's waiting clients'
#      time to first byte at least 10x better than nginx's).
#   bench/miss-vs-nginx.sh
# Environment (all optional):
#   SRCGATE=path        the srcgate binary (default build/srcgate); nothing is built here
#   BIG_MIB=1024        size of the single-miss file
#   OBJECT_MIB=256      size of the object the concurrent clients ask for
#   CLIENTS=50          concurrent clients
#   TTFB_SAMPLES=10     further cold misses, of distinct TTFB_MIB-sized objects, for the
#   TTFB_MIB=4          time-to-first-byte figures (a single sample says little on a busy VM)
#   ORIGIN_RATE_MIB=200 nginx limit_rate of the rate-limited origin, MiB/s per connection
#   THREADS=nproc       srcgate --threads and the caching nginx's worker_processes
#   MAX_TIME=180        seconds each client may run (curl --max-time)
#   SKIP_SRCGATE=1      measure only the nginx sides (to check the setup)
#   KEEP_TMP=1          keep the temporary directory
# Needs: nginx (Debian nginx-light or nginx), curl, openssl, python3 (to find
# free ports), about 4.5 GiB in $TMPDIR.
#
# The origin is one nginx (its own prefix and config in the temporary
# directory, daemon off, sendfile on) serving a hashed-mirror layout,
# <www>/sha256/<hex>, of ChaCha20 keystream files on two ports: one unlimited,
# one with `limit_rate` ORIGIN_RATE_MIB MiB/s, so that a fetch of the 256 MiB
# object takes more than a second (an infinitely fast origin would make every
# waiting client look as good as the first). Its access log counts the
# upstream requests. srcgate runs `serve --no-default-upstreams --mirror
# http://127.0.0.1:<origin>` on a fresh data directory for every case (its
# spool in the temporary directory); the caching nginx is a second nginx with
# a fresh proxy_cache_path, proxy_cache_lock on and lock timeout and age of
# 10 minutes (so that its waiters wait instead of going upstream uncached).
# Nothing is pinned to a CPU: a miss needs the four digests computed by
# srcgate on two threads, the origin and the client at the same time.
# Every curl downloads with -o (a file on $TMPDIR when its sha256 is checked,
# /dev/null otherwise); the single-miss downloads are checked on both sides;
# of the concurrent clients, the first and the last are.
set -euo pipefail
umask 022 # nginx workers may run as another user and must read the files

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
srcgate=${SRCGATE:-$root/build/srcgate}
big_mib=${BIG_MIB:-1024}
object_mib=${OBJECT_MIB:-256}
clients=${CLIENTS:-50}
ttfb_samples=${TTFB_SAMPLES:-10}
ttfb_mib=${TTFB_MIB:-4}
rate_mib=${ORIGIN_RATE_MIB:-200}
threads=${THREADS:-$(nproc)}
max_time=${MAX_TIME:-180}
skip_srcgate=${SKIP_SRCGATE:-0}

die() {
  echo "miss-vs-nginx: $*" >&2
  exit 1
}
nginx_bin=$(command -v nginx || true)
[[ -n $nginx_bin ]] || nginx_bin=/usr/sbin/nginx
[[ -x $nginx_bin ]] || die "nginx is missing (apt-get install nginx-light)"
for tool in curl openssl python3; do
  command -v "$tool" >/dev/null || die "$tool is missing"
done
if [[ $skip_srcgate != 1 ]]; then
  [[ -x $srcgate ]] || die "$srcgate is not an executable; build it (cmake --build build --target srcgate) or set SRCGATE"
  help=$("$srcgate" serve --help 2>&1) || true
  grep -q -- '--mirror' <<<"$help" ||
    die "$srcgate serve has no --mirror option (the miss path is not in this build)"
fi
((clients >= 2)) || die "CLIENTS must be at least 2"
# Loopback only: no proxy from the environment, for curl or srcgate.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

tmp=$(mktemp -d "${TMPDIR:-/tmp}/srcgate-miss-XXXXXX")
chmod 755 "$tmp"
origin_pid=""
proxy_pid=""
srcgate_pid=""
curl_pids=()
stop() { # PID: SIGTERM, then wait for it
  [[ -n $1 ]] || return 0
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  local p
  for p in "${curl_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  stop "$srcgate_pid"
  stop "$proxy_pid"
  stop "$origin_pid"
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
# wait_port PORT: until something listens on it, at most 10 s.
wait_port() {
  local i
  for ((i = 0; i < 100; i++)); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
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
sha256_of() { openssl dgst -sha256 -r "$1" | cut -d' ' -f1; }
now() { date +%s.%N; }
# cpu_ticks PID...: user+system CPU time of the processes, in clock ticks.
cpu_ticks() {
  local p t=0
  for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done
  echo "$t"
}
hz=$(getconf CLK_TCK)

echo "# srcgate miss path vs the origin and nginx proxy_cache (loopback)"
echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "commit:   $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "cpu:      $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; nothing pinned"
echo "versions: $("$nginx_bin" -v 2>&1 | sed 's/^nginx version: //'), $(curl --version | head -1 | cut -d' ' -f1-2)"
echo "setup:    srcgate --threads $threads; caching nginx worker_processes $threads; origin nginx limit_rate ${rate_mib} MiB/s on the limited port"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min load average before the run)"
echo

# --- the files: a hashed mirror on disk --------------------------------------
www=$tmp/www
mkdir -p "$www/sha256"
keystream() { # BYTES KEY: deterministic pseudo-random bytes (ChaCha20 of zeros)
  head -c "$1" /dev/zero | openssl enc -chacha20 -K "$2" -iv 00000000000000000000000000000000
}
make_file() { # MIB KEYNUM -> prints the sha256; the file is <www>/sha256/<hex>
  local f=$www/new hex
  keystream $(($1 * 1048576)) "$(printf '%064x' "$2")" >"$f"
  hex=$(sha256_of "$f")
  mv "$f" "$www/sha256/$hex"
  echo "$hex"
}
big=$(make_file "$big_mib" 5)
object=$(make_file "$object_mib" 6)
ttfb_objects=()
for ((i = 0; i < ttfb_samples; i++)); do ttfb_objects+=("$(make_file "$ttfb_mib" $((100 + i)))"); done
big_bytes=$((big_mib * 1048576))
object_bytes=$((object_mib * 1048576))
sync # the files' writeback must not run during the measurements
cat "$www"/sha256/* >/dev/null # page cache, for the origin

# --- the origin ----------------------------------------------------------------
nginx_common() { # PREFIX: the lines every nginx here shares
  cat <<EOF
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
EOF
}
nginx_http_common() { # PREFIX
  cat <<EOF
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  types {}
  client_body_temp_path $1/body;
  proxy_temp_path $1/proxy;
  fastcgi_temp_path $1/fastcgi;
  uwsgi_temp_path $1/uwsgi;
  scgi_temp_path $1/scgi;
EOF
}
origin_fast=$(free_port)
origin_slow=$(free_port)
origin=$tmp/origin
mkdir -p "$origin"
origin_log=$origin/access.log
cat >"$origin/nginx.conf" <<EOF
$(nginx_common "$origin")
worker_processes 1;
http {
$(nginx_http_common "$origin")
  log_format upstream '\$server_port \$request_method \$uri \$status \$body_bytes_sent \$request_time';
  access_log $origin_log upstream;
  server {
    listen 127.0.0.1:$origin_fast;
    location /sha256/ { root $www; }
  }
  server {
    listen 127.0.0.1:$origin_slow;
    location /sha256/ { root $www; limit_rate ${rate_mib}m; }
  }
}
EOF
"$nginx_bin" -p "$origin" -c "$origin/nginx.conf" -e "$origin/error.log" &
origin_pid=$!
wait_port "$origin_slow" || die "the origin did not listen on port $origin_slow (see $origin/error.log)"
for port in "$origin_fast" "$origin_slow"; do
  code=$(curl -s -o /dev/null -r 0-0 -w '%{http_code}' "http://127.0.0.1:$port/sha256/$object") || true
  [[ $code == 206 ]] || die "the origin on port $port answered $code to a Range request (see $origin/error.log)"
done
: >"$origin_log"
# origin_requests PORT PATH FROM: origin requests for PATH on PORT logged after line FROM.
origin_requests() {
  sleep 0.2 # nginx logs a request when its response has been sent; allow the last write
  tail -n +"$(($3 + 1))" "$origin_log" | awk -v port="$1" -v path="$2" '$1 == port && $3 == path' | wc -l
}
log_lines() { wc -l <"$origin_log"; }

# --- srcgate and the caching nginx ---------------------------------------------
srcgate_n=0
start_srcgate() { # ORIGIN_PORT: a fresh data directory
  srcgate_n=$((srcgate_n + 1))
  local dir=$tmp/srcgate-$srcgate_n
  mkdir -p "$dir/spool"
  srcgate_port=$(free_port)
  "$srcgate" serve --listen "127.0.0.1:$srcgate_port" --data "$dir/data" --spool-dir "$dir/spool" \
    --threads "$threads" --no-default-upstreams --mirror "http://127.0.0.1:$1" \
    2>"$dir/serve.log" &
  srcgate_pid=$!
  wait_http "http://127.0.0.1:$srcgate_port/readyz" ||
    die "srcgate serve did not become ready on port $srcgate_port: $(tail -3 "$dir/serve.log")"
}
stop_srcgate() {
  stop "$srcgate_pid"
  srcgate_pid=""
  rm -rf "$tmp/srcgate-$srcgate_n/data" "$tmp/srcgate-$srcgate_n/spool"
}
srcgate_metric() { # NAME: its value (the sum of its series), or "-"
  curl -s "http://127.0.0.1:$srcgate_port/metrics" |
    awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2; n++ } END { print n ? s : "-" }'
}

proxy_n=0
start_proxy() { # ORIGIN_PORT: a caching nginx with a fresh cache
  proxy_n=$((proxy_n + 1))
  local p=$tmp/proxy-$proxy_n
  mkdir -p "$p"
  proxy_port=$(free_port)
  cat >"$p/nginx.conf" <<EOF
$(nginx_common "$p")
worker_processes $threads;
http {
$(nginx_http_common "$p")
  log_format cache '\$upstream_cache_status \$status \$body_bytes_sent';
  access_log $p/access.log cache;
  proxy_cache_path $p/cache levels=1:2 keys_zone=srcgate_bench:10m max_size=4g inactive=1h
                   use_temp_path=off;
  server {
    listen 127.0.0.1:$proxy_port;
    location / {
      proxy_pass http://127.0.0.1:$1;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache srcgate_bench;
      proxy_cache_valid 200 1h;
      proxy_cache_lock on;
      proxy_cache_lock_timeout 10m;
      proxy_cache_lock_age 10m;
    }
  }
}
EOF
  "$nginx_bin" -p "$p" -c "$p/nginx.conf" -e "$p/error.log" &
  proxy_pid=$!
  # Readiness without a request: every path would be proxied to the origin.
  wait_port "$proxy_port" || die "the caching nginx did not listen on port $proxy_port (see $p/error.log)"
}
stop_proxy() {
  stop "$proxy_pid"
  proxy_pid=""
  rm -rf "$tmp/proxy-$proxy_n/cache"
}

# --- 1. a cold miss of the big file ---------------------------------------------
# fetch URL WANT_HEX: one curl to a file, checked -> "mib_per_s ttfb_ms total_s sha_ok"
fetch() {
  local out=$tmp/fetch.bin w code size ttfb total ok
  w=$(curl -s --max-time "$max_time" -o "$out" \
    -w '%{http_code} %{size_download} %{time_starttransfer} %{time_total}' "$1") || true
  read -r code size ttfb total <<<"$w"
  ok=bad
  [[ $code == 200 && $size == "$big_bytes" && $(sha256_of "$out") == "$2" ]] && ok=ok
  rm -f "$out"
  awk -v s="$size" -v f="$ttfb" -v t="$total" -v ok="$ok" \
    'BEGIN { printf "%.0f %.2f %.2f %s\n", (t > 0 ? s / 1048576 / t : 0), f * 1000, t, ok }'
}

failed=0
echo "## 1. cold miss of a ${big_mib} MiB file: srcgate beside curl straight from the origin"
printf '%-12s | %12s %13s %5s | %10s %11s %8s | %8s %11s | %s\n' origin "direct MiB/s" "srcgate MiB/s" \
  ratio "direct TTFB" "srcgate TTFB" overhead upstream "srcgate CPU" bytes
for spec in "unlimited $origin_fast" "${rate_mib}MiB/s $origin_slow"; do
  read -r label port <<<"$spec"
  read -r d_rate d_ttfb _ d_ok < <(fetch "http://127.0.0.1:$port/sha256/$big" "$big")
  if [[ $skip_srcgate == 1 ]]; then
    printf '%-12s | %12d %13s %5s | %8.2fms %11s %8s | %8s %11s | direct %s\n' "$label" "$d_rate" - - \
      "$d_ttfb" - - - - "$d_ok"
    [[ $d_ok == ok ]] || failed=1
    continue
  fi
  start_srcgate "$port"
  from=$(log_lines)
  c0=$(cpu_ticks "$srcgate_pid")
  read -r s_rate s_ttfb _ s_ok < <(fetch "http://127.0.0.1:$srcgate_port/sha256/$big" "$big")
  c1=$(cpu_ticks "$srcgate_pid")
  ups=$(origin_requests "$port" "/sha256/$big" "$from")
  stop_srcgate
  [[ $d_ok == ok && $s_ok == ok && $ups == 1 ]] || failed=1
  awk -v l="$label" -v dr="$d_rate" -v sr="$s_rate" -v dt="$d_ttfb" -v st="$s_ttfb" -v u="$ups" \
    -v cpu="$((c1 - c0))" -v hz="$hz" -v dok="$d_ok" -v sok="$s_ok" 'BEGIN {
      printf "%-12s | %12d %13d %5.2f | %8.2fms %9.2fms %6.2fms | %8d %9.2f s | direct %s, srcgate %s\n",
        l, dr, sr, sr / dr, dt, st, st - dt, u, cpu / hz, dok, sok }'
done
echo "(MiB/s: body bytes over curl's total time. TTFB: curl's time_starttransfer; overhead = srcgate - direct."
echo " upstream: requests for the file in the origin's access log. srcgate CPU: user+system seconds of"
echo " the server during its miss (the four digests, the UnixFS blocks, the store, the spool, the sockets)."
echo " bytes: status 200, full length and sha256 of the download. Targets: ratio >= 0.9, overhead <= 5 ms.)"
echo

# --- 1b. time to first byte of cold misses ------------------------------------------
# One srcgate (fresh store, the unlimited origin) asked for each small object
# once, right after curl asked the origin for it; the first request opens the
# upstream connection, the next ones reuse it as a running cache would.
if ((ttfb_samples > 0)); then
  echo "## 1b. time to first byte of $ttfb_samples cold misses of distinct ${ttfb_mib} MiB objects (unlimited origin)"
  [[ $skip_srcgate == 1 ]] || start_srcgate "$origin_fast"
  : >"$tmp/ttfb.txt"
  for hex in "${ttfb_objects[@]}"; do
    d=$(curl -s -o /dev/null -w '%{http_code} %{size_download} %{time_starttransfer}' \
      "http://127.0.0.1:$origin_fast/sha256/$hex") || true
    s="200 $((ttfb_mib * 1048576)) 0"
    if [[ $skip_srcgate != 1 ]]; then
      s=$(curl -s -o /dev/null -w '%{http_code} %{size_download} %{time_starttransfer}' \
        "http://127.0.0.1:$srcgate_port/sha256/$hex") || true
    fi
    echo "$d $s" >>"$tmp/ttfb.txt"
  done
  [[ $skip_srcgate == 1 ]] || stop_srcgate
  ttfb_ok=$(awk -v size="$((ttfb_mib * 1048576))" '$1 == 200 && $2 == size && $4 == 200 && $5 == size' \
    "$tmp/ttfb.txt" | wc -l)
  ((ttfb_ok == ttfb_samples)) || failed=1
  # column C of ttfb.txt in ms -> "best median worst"
  stats() {
    awk -v c="$1" '{ print $c * 1000 }' "$tmp/ttfb.txt" | sort -g | awk '
      { f[NR] = $1 } END { printf "%.2f %.2f %.2f", f[1], NR % 2 ? f[(NR + 1) / 2] : (f[NR / 2] + f[NR / 2 + 1]) / 2, f[NR] }'
  }
  read -r db dm dw <<<"$(stats 3)"
  read -r sb sm sw <<<"$(stats 6)"
  awk '{ print ($6 - $3) * 1000 }' "$tmp/ttfb.txt" | sort -g >"$tmp/ttfb-diff.txt"
  read -r ob om ow <<<"$(awk '{ f[NR] = $1 } END {
    printf "%.2f %.2f %.2f", f[1], NR % 2 ? f[(NR + 1) / 2] : (f[NR / 2] + f[NR / 2 + 1]) / 2, f[NR] }' \
    "$tmp/ttfb-diff.txt")"
  printf '%-10s | %9s %9s %9s\n' TTFB best median worst
  printf '%-10s | %7.2fms %7.2fms %7.2fms\n' direct "$db" "$dm" "$dw" srcgate "$sb" "$sm" "$sw" \
    overhead "$ob" "$om" "$ow"
  echo "($ttfb_ok of $ttfb_samples pairs complete (200, full length); overhead: srcgate - direct of each pair,"
  echo " then best, median, worst of those. Target: overhead <= 5 ms.)"
  echo
fi

# --- 2. concurrent clients on one cold object -----------------------------------
# crowd URL LABEL: CLIENTS curls at once -> "ok_clients sha_ok best_ms median_ms worst_ms total_s"
crowd() {
  local dir=$tmp/crowd-$2 c out t0 t1 sha_ok=ok
  mkdir -p "$dir"
  curl_pids=()
  t0=$(now)
  for ((c = 0; c < clients; c++)); do
    out=/dev/null
    ((c == 0 || c == clients - 1)) && out=$dir/body-$c
    curl -s --max-time "$max_time" -o "$out" \
      -w '%{http_code} %{size_download} %{time_starttransfer} %{time_total}\n' "$1" \
      >"$dir/w-$c" 2>/dev/null &
    curl_pids+=($!)
  done
  for c in "${curl_pids[@]}"; do wait "$c" 2>/dev/null || true; done # bounded by --max-time
  curl_pids=()
  t1=$(now)
  for c in 0 $((clients - 1)); do
    [[ -f $dir/body-$c && $(sha256_of "$dir/body-$c") == "$object" ]] || sha_ok=bad
  done
  rm -f "$dir"/body-*
  # sorted by time to first byte, so that f[1..n] is in order
  cat "$dir"/w-* | sort -k3,3g | awk -v size="$object_bytes" -v sha="$sha_ok" \
    -v t="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" '
    { if ($1 == 200 && $2 == size) ok++; f[NR] = $3 * 1000 }
    END {
      n = NR
      med = n % 2 ? f[(n + 1) / 2] : (f[n / 2] + f[n / 2 + 1]) / 2
      printf "%d %s %.1f %.1f %.1f %.2f\n", ok, sha, f[1], med, f[n], t
    }'
}

echo "## 2. $clients concurrent clients on one cold ${object_mib} MiB object (origin limit_rate ${rate_mib} MiB/s)"
printf '%-20s | %8s | %9s %9s %9s | %7s | %7s | %7s %s\n' server upstream "TTFB best" median worst \
  "total" "CPU" "clients" "bytes / notes"
declare -A med worst
sides=("nginx")
[[ $skip_srcgate == 1 ]] || sides=("srcgate" "nginx")
for side in "${sides[@]}"; do
  from=$(log_lines)
  if [[ $side == srcgate ]]; then
    start_srcgate "$origin_slow"
    pids=("$srcgate_pid")
    c0=$(cpu_ticks "${pids[@]}")
    read -r ok sha best median worst_ms total < <(crowd "http://127.0.0.1:$srcgate_port/sha256/$object" srcgate)
    c1=$(cpu_ticks "${pids[@]}")
    notes="coalesced $(srcgate_metric srcgate_fetch_coalesced_total)"
    name="srcgate serve"
    stop_srcgate
  else
    start_proxy "$origin_slow"
    mapfile -t pids < <(pgrep -P "$proxy_pid")
    pids+=("$proxy_pid")
    c0=$(cpu_ticks "${pids[@]}")
    read -r ok sha best median worst_ms total < <(crowd "http://127.0.0.1:$proxy_port/sha256/$object" nginx)
    c1=$(cpu_ticks "${pids[@]}")
    notes="cache status: $(awk '{ n[$1]++ } END { for (s in n) printf "%s %d ", s, n[s] }' \
      "$tmp/proxy-$proxy_n/access.log")"
    name="nginx proxy_cache"
    stop_proxy
  fi
  ups=$(origin_requests "$origin_slow" "/sha256/$object" "$from")
  [[ $ok == "$clients" && $sha == ok && $ups == 1 ]] || failed=1
  med[$side]=$median
  worst[$side]=$worst_ms
  printf '%-20s | %8d | %7.1fms %7.1fms %7.1fms | %6.2fs | %6.2fs | %3d/%-3d %s, %s\n' "$name" "$ups" \
    "$best" "$median" "$worst_ms" "$total" "$(awk -v t="$((c1 - c0))" -v hz="$hz" 'BEGIN { print t / hz }')" \
    "$ok" "$clients" "$sha" "$notes"
done
if [[ $skip_srcgate != 1 ]]; then
  awk -v sm="${med[srcgate]}" -v nm="${med[nginx]}" -v sw="${worst[srcgate]}" -v nw="${worst[nginx]}" 'BEGIN {
    printf "nginx/srcgate time to first byte: median %.1fx, worst %.1fx (target >= 10x)\n",
      nm / (sm > 0 ? sm : 0.001), nw / (sw > 0 ? sw : 0.001) }'
fi
echo "(upstream: requests for the object in the origin's access log (target 1). TTFB: each client's"
echo " time_starttransfer, from its own start; the $clients curls are started together. total: from the first"
echo " start to the last client's end. CPU: user+system seconds of the server's processes (srcgate; the"
echo " caching nginx's master and workers, not the origin) during the phase. bytes: status 200 and full"
echo " length for every client, sha256 of the first and last client's bodies.)"
echo
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (after the run)"
((failed == 0)) || die "a check failed (see 'bytes' and 'upstream' above)"
