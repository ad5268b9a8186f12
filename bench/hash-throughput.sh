#!/usr/bin/env bash
# Hashing throughput of srcgate against OpenSSL's sha256 on this machine.
#   bench/hash-throughput.sh [SIZE_MIB]     (default 1024; at least 512 is meaningful)
# Needs build/srcgate and build/srcgate_hash_bench (scripts/run builds the first;
# `cmake --build build --target srcgate srcgate_hash_bench` both), openssl, and
# SIZE_MIB of space in $TMPDIR. SRCGATE_BUILD_DIR picks another build directory.
#
# 1. makes a SIZE_MIB file of pseudo-random bytes (ChaCha20 of zeros, fixed key);
# 2. `openssl speed -evp sha256 -bytes 1048576 -seconds 3` (one core): the reference;
# 3. `srcgate hash --profile P FILE` for both profiles: wall and user+sys CPU time;
# 4. bench/hash_bench.cpp on the file in memory, 1 MiB slices: sha256 alone, the
#    four digests, the importer alone, the sha256+chunking pass (importer on one
#    thread, sha256 on another: the shape FileHasher has) and the full FileHasher.
# Prints MB/s (10^6 bytes per second) and each figure's ratio to OpenSSL's sha256,
# by wall time and per CPU-second. The issue's target: sha256+chunking >= 0.8.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SRCGATE_BUILD_DIR:-build}
[[ $build == /* ]] || build="$root/$build"
size_mib=${1:-1024}
size=$((size_mib * 1024 * 1024))

for bin in srcgate srcgate_hash_bench; do
  if [[ ! -x $build/$bin ]]; then
    echo "hash-throughput: $build/$bin is missing; build it with" >&2
    echo "  cmake --build $build --target srcgate srcgate_hash_bench" >&2
    exit 1
  fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/srcgate-bench-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
file=$tmp/data.bin

echo "# srcgate hash throughput"
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "commit:  $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "cpu:     $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
echo "openssl: $(openssl version)"
echo "file:    $size_mib MiB ($size bytes) of ChaCha20 keystream"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min load average before the run)"
echo

head -c "$size" /dev/zero |
  openssl enc -chacha20 -K 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f \
    -iv 00000000000000000000000000000000 >"$file"
cat "$file" >/dev/null # into the page cache

# 1000s of bytes per second on the 1048576-byte line, as MB/s.
openssl_mbs=$(openssl speed -evp sha256 -bytes 1048576 -seconds 3 2>/dev/null |
  awk '$1 == "sha256" { v = $2; sub(/k$/, "", v); print v / 1000 }')
if [[ -z $openssl_mbs ]]; then
  echo "hash-throughput: could not read openssl speed's sha256 figure" >&2
  exit 1
fi

# row NAME MB_PER_WALL_S CPU_SECONDS [MAIN_THREAD_CPU_SECONDS]
# Critical path: max(main thread, other thread) CPU time, i.e. the wall time with
# each of the (at most two) busy threads on its own idle core.
row() {
  awk -v name="$1" -v mbs="$2" -v cpu="$3" -v main="${4:-}" -v ref="$openssl_mbs" -v bytes="$size" '
    BEGIN {
      per_cpu = cpu > 0 ? bytes / 1e6 / cpu : 0
      line = sprintf("| %-38s | %9.0f | %5.2f | %9.0f | %5.2f |", name, mbs, mbs / ref, per_cpu, per_cpu / ref)
      if (main != "") {
        crit = main > cpu - main ? main : cpu - main
        crit_mbs = crit > 0 ? bytes / 1e6 / crit : 0
        line = line sprintf(" %9.0f | %5.2f |", crit_mbs, crit_mbs / ref)
      } else {
        line = line "         - |     - |"
      }
      print line
    }'
}

echo "| pass                                   | wall MB/s | ratio | MB/CPU-s  | ratio | crit MB/s | ratio |"
echo "|----------------------------------------|-----------|-------|-----------|-------|-----------|-------|"
openssl_cpu=$(awk -v b="$size" -v r="$openssl_mbs" 'BEGIN { print b / 1e6 / r }')
row "openssl speed -evp sha256 (1 core)" "$openssl_mbs" "$openssl_cpu" "$openssl_cpu"

for profile in unixfs-v1-2025 unixfs-v0-2015; do
  TIMEFORMAT='%R %U %S'
  { time "$build/srcgate" hash --profile "$profile" "$file" >"$tmp/out.json"; } 2>"$tmp/time"
  read -r real user sys <"$tmp/time"
  mbs=$(awk -v b="$size" -v t="$real" 'BEGIN { print b / 1e6 / t }')
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')
  row "srcgate hash --profile $profile" "$mbs" "$cpu"
done

"$build/srcgate_hash_bench" "$file" --repeat 3 >"$tmp/bench.txt"
while read -r line; do
  [[ $line == pass=* ]] || continue
  name='' mbs='' cpu='' main=''
  for kv in $line; do
    case $kv in
      pass=*) name=${kv#pass=} ;;
      mb_per_s=*) mbs=${kv#mb_per_s=} ;;
      cpu_seconds=*) cpu=${kv#cpu_seconds=} ;;
      main_cpu_seconds=*) main=${kv#main_cpu_seconds=} ;;
    esac
  done
  row "in memory: $name" "$mbs" "$cpu" "$main"
done <"$tmp/bench.txt"

echo
echo "ratio: the figure over OpenSSL's sha256 speed. MB/CPU-s: bytes per CPU-second, all threads."
echo "crit MB/s: bytes over the busier thread's CPU time, i.e. the speed with each thread on its own"
echo "idle core (what wall MB/s shows on a quiet machine)."
echo "in memory: best of 3, 1 MiB slices, unixfs-v1-2025 (bench/hash_bench.cpp)."
echo "target: 'in memory: sha256+chunking' >= 0.80 of OpenSSL's sha256 (wall on a quiet machine)."
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
