#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a
# fixed time. Usage: fuzz/run.sh [SECONDS] [TARGET...]   (default 600 s, all).
# Prints, per target, the executions libFuzzer made and whether it crashed.
# Crashing inputs land in build-fuzz/crashes/<target>/; once the bug is fixed,
# keep the input as fuzz/regressions/<target>/<what-it-found> (the replay tests
# run every file there in each build).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(nix_hash cid dag_pb car)
build=${SRCGATE_FUZZ_BUILD_DIR:-build-fuzz}
shared=${SRCGATE_SHARED_DIR:-$(cd .. && pwd)/shared}

CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSRCGATE_BUILD_FUZZERS=ON -DSRCGATE_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target $(printf 'fuzz_%s ' "${targets[@]}")

status=0
for t in "${targets[@]}"; do
  work="$build/corpus/$t"
  crashes="$build/crashes/$t"
  mkdir -p "$work" "$crashes"
  seeds=(fuzz/corpus/$t fuzz/regressions/$t)
  [ "$t" = car ] && seeds+=("$shared/fixtures/gateway-conformance")
  log="$build/$t.log"
  if "$build/fuzz_$t" "$work" "${seeds[@]}" -max_total_time="$seconds" -max_len=65536 \
      -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$crashes/" -print_final_stats=1 \
      >"$log" 2>&1; then
    result=ok
  else
    result=CRASH
    status=1
  fi
  runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')
  echo "fuzz_$t: $result, $runs executions in ${seconds} s (log: $log)"
done
exit $status
