#!/usr/bin/env bash
# test.sh [--fast] [--no-fuzz] [-R REGEX] [-- CTEST_ARG...]
#
# Builds runner and runs its whole test suite (unit + e2e, via ctest) in two
# configurations, from any working directory; this is what CI (.ci/run) runs.
#   0. scripts/install-deps.sh
#   A. build/ci-release: Release, -DRUNNER_WERROR=ON
#   B. build/ci-asan:    Debug -O1, -DRUNNER_SANITIZE=ON (ASan + UBSan),
#                        -DRUNNER_WERROR=ON; tests run with
#                        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 and
#                        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
#      then the leak canary (tests/fuzz/leak_canary.c, built with the same
#      flags) must fail with a LeakSanitizer report, proving leak checking
#      is active; if LeakSanitizer does not work here (e.g. ptrace is
#      restricted), the unit tests run under Valgrind memcheck instead.
#   T. build/ci-tsan: ThreadSanitizer (gcc, RelWithDebInfo) on the thread
#      pool's own tests (test_kernels pool: spinning and sleeping workers,
#      concurrent callers) and on unit/test_mlp (threaded products and SGD
#      steps, results equal for any thread count). Function entry/exit
#      instrumentation is off because the ifunc resolvers of target_clones
#      run before the TSan runtime is up; memory accesses are all checked.
#   C. scripts/fuzz.sh: each libFuzzer target for RUNNER_FUZZ_SECONDS
#      (default 60) seconds in build/fuzz (clang, ASan + UBSan); a crash
#      fails the run.
# Both configurations are built and tested even if the other one fails. It
# ends with a summary of every step and a total "tests: N passed, M failed",
# and exits non-zero if any step failed.
#
# Options:
#   --fast        skip configuration B (the sanitizer build), T and C (fuzzing)
#   --no-fuzz     skip C (fuzzing)
#   -R REGEX      run only the ctest tests matching REGEX (passed to ctest)
#   -- ARG...     pass the remaining arguments to ctest as they are
#
# Environment:
#   RUNNER_TEST_JOBS  parallel jobs for the builds and for ctest (default 2)
#   RUNNER_FUZZ_SECONDS  fuzzing time per target (default 60)
set -euo pipefail

prog=test.sh

usage() {
  echo "usage: $0 [--fast] [--no-fuzz] [-R REGEX] [-- CTEST_ARG...]"
}

fast=0
fuzz=1
ctest_args=()
while (($# > 0)); do
  case $1 in
    --fast) fast=1 ;;
    --no-fuzz) fuzz=0 ;;
    -R)
      (($# > 1)) || { usage >&2; exit 2; }
      ctest_args+=(-R "$2")
      shift
      ;;
    -R?*) ctest_args+=(-R "${1#-R}") ;;
    --)
      shift
      ctest_args+=("$@")
      break
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "$prog: unknown argument: $1" >&2
      usage >&2
      exit 2
      ;;
  esac
  shift
done

jobs=${RUNNER_TEST_JOBS:-2}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "$prog: bad RUNNER_TEST_JOBS=$jobs" >&2; exit 2; }

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd -- "$root"

# Every step adds one line to the summary.
summary=()
failed_steps=()
tests_passed=0
tests_failed=0

record() { # record STATUS NAME [DETAIL]
  local line
  printf -v line '  %-8s %s' "$1" "$2"
  [[ -z ${3:-} ]] || line+=" ($3)"
  summary+=("$line")
  [[ $1 != FAILED ]] || failed_steps+=("$2")
}

# run_step NAME COMMAND...: runs COMMAND and records whether it succeeded.
run_step() {
  local name=$1 start=$SECONDS rc=0
  shift
  printf '\n== %s: %s\n' "$prog" "$name"
  "$@" || rc=$?
  if ((rc == 0)); then
    record ok "$name" "$((SECONDS - start))s"
  else
    record FAILED "$name" "exit status $rc"
  fi
  return "$rc"
}

# run_ctest NAME BUILD_DIR [VAR=VALUE...]: runs ctest in BUILD_DIR with the
# given environment, keeps its output in BUILD_DIR/ctest.log and adds its
# counts to the totals.
run_ctest() {
  local name=$1 dir=$2 start=$SECONDS rc=0 line n_failed n_total
  shift 2
  printf '\n== %s: %s\n' "$prog" "$name"
  env "$@" ctest --test-dir "$dir" --output-on-failure --no-tests=error \
    -j"$jobs" ${ctest_args[@]+"${ctest_args[@]}"} 2>&1 | tee "$dir/ctest.log" ||
    rc=${PIPESTATUS[0]}
  # ctest's own closing line: "97% tests passed, 1 tests failed out of 30"
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' \
    "$dir/ctest.log" | tail -n 1 || true)
  if [[ $line =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
    n_failed=${BASH_REMATCH[1]}
    n_total=${BASH_REMATCH[2]}
    tests_passed=$((tests_passed + n_total - n_failed))
    tests_failed=$((tests_failed + n_failed))
    line="$((n_total - n_failed)) passed, $n_failed failed"
  else
    line="no test results"
    ((rc != 0)) || rc=1
  fi
  if ((rc == 0)); then
    record ok "$name" "$line, $((SECONDS - start))s"
  else
    record FAILED "$name" "$line, exit status $rc"
  fi
}

# configuration NAME BUILD_DIR "CMAKE_ARG..." [VAR=VALUE...]: configure,
# build and test one configuration; later steps are skipped after a failure.
configuration() {
  local name=$1 dir=$2
  local -a cmake_args
  read -r -a cmake_args <<<"$3"
  shift 3
  if run_step "$name: configure" cmake -S . -B "$dir" "${cmake_args[@]}"; then
    if run_step "$name: build" cmake --build "$dir" -j"$jobs"; then
      run_ctest "$name: ctest" "$dir" "$@"
      return
    fi
  else
    record skipped "$name: build"
  fi
  record skipped "$name: ctest"
}

print_summary() {
  printf '\n== %s: summary\n' "$prog"
  printf '%s\n' "${summary[@]}"
  if ((${#failed_steps[@]} > 0)); then
    local joined
    printf -v joined '%s, ' "${failed_steps[@]}"
    echo "$prog: FAILED: ${joined%, }"
  else
    echo "$prog: all steps passed"
  fi
  echo "tests: $tests_passed passed, $tests_failed failed"
}

# leak_check ASAN_DIR RELEASE_DIR: prove that LeakSanitizer works here (a
# deliberate leak, built with the sanitizer build's compiler and flags, must
# be reported); if it does not, run every unit test of the release build
# under Valgrind memcheck instead (Valgrind cannot run ASan binaries).
leak_check() {
  local dir=$1 rel=$2 cc canary=$1/leak_canary
  cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$dir/CMakeCache.txt")
  "${cc:-cc}" -fsanitize=address,undefined -fno-omit-frame-pointer -O1 \
    tests/fuzz/leak_canary.c -o "$canary" || return 1
  # abort_on_error=0 here only so that bash does not print "Aborted": the
  # leak report and the failing exit status are the same.
  if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 "$canary" >"$canary.log" 2>&1 &&
    grep -q 'ERROR: LeakSanitizer: detected memory leaks' "$canary.log"; then
    echo "LeakSanitizer works: the deliberate leak of tests/fuzz/leak_canary.c was reported"
    return 0
  fi
  echo "LeakSanitizer did not report the deliberate leak; using Valgrind memcheck"
  ./scripts/install-deps.sh valgrind || return 1
  local t rc=0
  for t in "$rel"/test_*; do
    [[ -x $t ]] || continue
    grep -qF "[=[unit/$(basename "$t")]=]" "$rel/CTestTestfile.cmake" 2>/dev/null || continue
    echo "valgrind: $(basename "$t")"
    (cd "$rel" && RUNNER_SOURCE_DIR=$root RUNNER_BIN=$rel/runner valgrind -q --error-exitcode=1 --leak-check=full \
      --errors-for-leak-kinds=definite,indirect "$t" >/dev/null) || rc=1
  done
  return $rc
}

# python3-numpy lets the .npy tests also check files made by numpy itself;
# clang and libclang-rt-14-dev build the libFuzzer targets; chromium renders
# the plots and reports in e2e/test_render_chromium and e2e/test_compare.
if ! run_step "dependencies" ./scripts/install-deps.sh python3-numpy clang libclang-rt-14-dev chromium; then
  record skipped "release, asan: everything"
  print_summary
  exit 1
fi

configuration release build/ci-release \
  "-DCMAKE_BUILD_TYPE=Release -DRUNNER_WERROR=ON"

if ((fast)); then
  record skipped "asan: configure, build, ctest" "--fast"
else
  configuration asan build/ci-asan \
    "-DCMAKE_BUILD_TYPE=Debug -DRUNNER_SANITIZE=ON -DRUNNER_WERROR=ON -DCMAKE_C_FLAGS=-O1" \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  if [[ -f build/ci-asan/CMakeCache.txt ]]; then
    run_step "asan: leak check is active" leak_check build/ci-asan "$root/build/ci-release" || true
  fi
fi

# tsan_check DIR: build and run the thread tests under ThreadSanitizer.
tsan_check() {
  local dir=$1 flags="-fsanitize=thread --param=tsan-instrument-func-entry-exit=0"
  CC=gcc cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRUNNER_WERROR=ON \
    "-DCMAKE_C_FLAGS=$flags" "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread" >/dev/null || return 1
  cmake --build "$dir" -j"$jobs" --target test_kernels test_mlp >/dev/null || return 1
  TSAN_OPTIONS=halt_on_error=1 "$dir/test_kernels" pool || return 1
  TSAN_OPTIONS=halt_on_error=1 "$dir/test_mlp" || return 1
}

if ((fast)); then
  record skipped "tsan: thread tests" "--fast"
else
  run_step "tsan: thread tests" tsan_check build/ci-tsan || true
fi

if ((fast || !fuzz)); then
  record skipped "fuzz" "$( ((fast)) && echo --fast || echo --no-fuzz)"
else
  run_step "fuzz (${RUNNER_FUZZ_SECONDS:-60}s per target)" ./scripts/fuzz.sh || true
fi

print_summary
((${#failed_steps[@]} == 0))
