#!/usr/bin/env bash
# fuzz.sh [SECONDS] [TARGET...]
#
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang, ASan and
# UBSan in build/fuzz (-DRUNNER_FUZZ=ON) and runs each for SECONDS seconds
# (default: $RUNNER_FUZZ_SECONDS, else 60), all at the same time (each
# libFuzzer process is single-threaded; the wall time is SECONDS plus the
# build, whatever the number of targets):
#   fuzz_config  the experiment-file parser (bytes -> config or error)
#   fuzz_cifar   the CIFAR-10 batch reader (bytes -> images or error)
#   fuzz_npy     the .npy reader (bytes -> matrix/labels or error)
#   fuzz_runlog  the JSON run file writer (any bytes in names, paths and
#                messages, any doubles in metrics -> strictly valid JSON)
# Seeds: experiments/*.yaml and tests/corpus/config/ for the parser,
# tests/fuzz/seeds/<target>/ for the readers. Inputs found to add coverage
# are kept in build/fuzz/corpus/<target>/ for the next run. A crash, a
# sanitizer report or a leak stops that target; the input is saved as
# build/fuzz/crashes/<target>-crash-<sha1> and the script exits 1 (turn it
# into a case of tests/corpus with a fix). Prints, per target, the
# executions, executions per second, new corpus entries and peak memory.
#
# Needs clang and libclang-rt-14-dev (scripts/install-deps.sh installs them
# when given as extra packages; scripts/test.sh does that).
set -euo pipefail

prog=fuzz.sh
seconds=${1:-${RUNNER_FUZZ_SECONDS:-60}}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || {
  echo "usage: $0 [SECONDS] [TARGET...]  (SECONDS a positive integer)" >&2
  exit 2
}
shift $(($# > 0 ? 1 : 0))
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd -- "$root"
targets=("$@")
((${#targets[@]} > 0)) || targets=(fuzz_config fuzz_cifar fuzz_npy fuzz_runlog)

command -v clang >/dev/null || {
  echo "$prog: clang not found (apt-get install clang libclang-rt-14-dev)" >&2
  exit 1
}
dir=build/fuzz
CC=clang cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRUNNER_FUZZ=ON >/dev/null
cmake --build "$dir" -j"${RUNNER_TEST_JOBS:-2}" --target "${targets[@]}" >/dev/null

mkdir -p "$dir/crashes"
failed=()
summary=()
declare -A pids=()
echo "== $prog: ${targets[*]} for ${seconds}s each, in parallel"
for t in "${targets[@]}"; do
  name=${t#fuzz_}
  corpus=$dir/corpus/$name
  mkdir -p "$corpus"
  seeds=()
  opts=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560 -print_final_stats=1
    -artifact_prefix="$dir/crashes/$t-")
  case $name in
    config)
      seeds=(experiments tests/corpus/config)
      opts+=(-max_len=20000 -dict=tests/fuzz/config.dict)
      ;;
    cifar) seeds=(tests/fuzz/seeds/cifar); opts+=(-max_len=65537) ;;
    runlog) seeds=(tests/fuzz/seeds/runlog); opts+=(-max_len=4096) ;;
    *) [[ -d tests/fuzz/seeds/$name ]] && seeds=("tests/fuzz/seeds/$name") ;;
  esac
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$dir/$t" "${opts[@]}" "$corpus" "${seeds[@]}" >"$dir/$t.log" 2>&1 &
  pids[$t]=$!
done

for t in "${targets[@]}"; do
  log=$dir/$t.log
  rc=0
  wait "${pids[$t]}" || rc=$?
  stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
  runs=$(stat number_of_executed_units)
  speed=$(stat average_exec_per_sec)
  added=$(stat new_units_added)
  rss=$(stat peak_rss_mb)
  line=$(printf '%-12s %10s executions  %7s exec/s  %5s new inputs  %5s MB peak' \
    "$t" "${runs:-?}" "${speed:-?}" "${added:-?}" "${rss:-?}")
  if ((rc != 0)); then
    line+="  FAILED (exit $rc)"
    failed+=("$t")
    grep -E 'ERROR|SUMMARY|Test unit written|runtime error' "$log" | head -n 20 >&2 || true
  fi
  summary+=("$line")
done

echo "== $prog: summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
  echo "$prog: FAILED: ${failed[*]} (inputs in $dir/crashes/, logs in $dir/*.log)" >&2
  exit 1
fi
echo "$prog: no crash"
