#!/usr/bin/env bash
# Store benchmark: import, read, churn, open and blob compression of the
# RocksDB block store on this machine (bench/README.md, section "Store").
#   bench/store-bench.sh [SECTION]    SECTION: large|small|read|churn|open|compression|all (default)
# Needs build/srcgate_store_bench and build/srcgate (`cmake --build build --target
# srcgate srcgate_store_bench`) and about 6 GiB free in $TMPDIR. SRCGATE_BUILD_DIR
# picks another build directory. Run it on a quiet machine: every figure is one
# run, and a busy second core shows up directly in the import figures.
#
# 1. srcgate_store_bench (bench/store_bench.cpp) in a scratch directory: see the
#    comment at its top for what each line measures;
# 2. for "all" and "large": `srcgate import` of a 1 GiB file from $TMPDIR, end to
#    end (read the file, hash, store), wall time.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SRCGATE_BUILD_DIR:-build}
[[ $build == /* ]] || build="$root/$build"
section=${1:-all}

for bin in srcgate srcgate_store_bench; do
  if [[ ! -x $build/$bin ]]; then
    echo "store-bench: $build/$bin is missing; build it with" >&2
    echo "  cmake --build $build --target srcgate srcgate_store_bench" >&2
    exit 1
  fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/srcgate-store-bench-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "# srcgate store bench ($section)"
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "commit:  $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "cpu:     $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
echo "disk:    $(df -h --output=fstype,size,avail "$tmp" | tail -1 | tr -s ' ')"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, before)"
echo

"$build/srcgate_store_bench" "$tmp/bench" "$section"

if [[ $section == all || $section == large ]]; then
  # head closes the pipe after 1 GiB; openssl's SIGPIPE is expected.
  { openssl enc -chacha20 -K "$(printf '%064d' 5)" -iv "$(printf '%032d' 0)" -in /dev/zero 2>/dev/null ||
      true; } | head -c $((1024 * 1024 * 1024)) > "$tmp/one-gib.bin"
  sync
  TIMEFORMAT='%R %U %S'
  { time "$build/srcgate" import --data "$tmp/cli-store" "$tmp/one-gib.bin" > /dev/null; } 2> "$tmp/time"
  read -r wall user sys < "$tmp/time"
  printf '%-34s %.0f MiB/s wall (%.2f s; CPU %.2f s user+sys; file in %s)\n' \
    "srcgate import of a 1 GiB file" "$(echo "1024 / $wall" | bc -l)" "$wall" \
    "$(echo "$user + $sys" | bc -l)" "${TMPDIR:-/tmp}"
fi
echo
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, after)"
