#!/usr/bin/env bash
# Runs the fuzz targets one after the other (built by Tests/fuzz/build.sh):
# first every file of Tests/fuzz/<target>/regressions/ (inputs that crashed
# once: each must now pass), then libFuzzer for SECONDS, starting from the
# committed seeds (Tests/fuzz/<target>/seeds) and the corpus grown by earlier
# runs (.build/fuzz/corpus/<target>, not committed). A crash leaves its input
# in .build/fuzz/artifacts/<target>/ and makes the script fail.
#
#   Tests/fuzz/run.sh [SECONDS] [target...]      (default: 60 s, every target)
#
# Environment: FUZZ_FLAGS adds libFuzzer flags. One libFuzzer process at a
# time, niced, so other builds on the machine keep their cores.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SECONDS_PER_TARGET=${1:-60}
shift || true
TARGETS=${*:-yaml jsonl csv npy score llm hub arrow template parquet}
BIN=$ROOT/.build/fuzz/bin
# The Swift runtime's own crash handler gets in the way of libFuzzer's and
# ASan's reports.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:symbolize=1}

failed=()
printf '%-6s %12s %10s %8s %8s  %s\n' target executions exec/s cov corpus result
for t in $TARGETS; do
  corpus=$ROOT/.build/fuzz/corpus/$t
  artifacts=$ROOT/.build/fuzz/artifacts/$t
  logs=$ROOT/.build/fuzz/logs
  mkdir -p "$corpus" "$artifacts" "$logs"
  log=$logs/$t.log
  : > "$log"
  regressions=("$ROOT"/Tests/fuzz/$t/regressions/*)
  if [ -e "${regressions[0]}" ]; then
    if ! "$BIN/$t" "${regressions[@]}" >>"$log" 2>&1; then
      echo "$t: a regression input crashes again (see $log)"
      failed+=("$t")
      continue
    fi
  fi
  # One process: no -jobs/-workers (with -jobs=1 libFuzzer runs a child that
  # logs to ./fuzz-0.log instead).
  nice -n 10 "$BIN/$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=30 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" ${FUZZ_FLAGS:-} \
    "$corpus" "$ROOT/Tests/fuzz/$t/seeds" >>"$log" 2>&1
  status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  size=$(ls "$corpus" | wc -l)
  if [ $status = 0 ]; then result=ok; else result="CRASH (exit $status): $(ls -t "$artifacts" | head -1)"; failed+=("$t"); fi
  printf '%-6s %12s %10s %8s %8s  %s\n' "$t" "${runs:-?}" "${rate:-?}" "${cov:-?}" "$size" "$result"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]} (logs in .build/fuzz/logs, inputs in .build/fuzz/artifacts)"
  exit 1
fi
