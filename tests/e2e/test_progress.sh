#!/usr/bin/env bash
# End-to-end test of the progress display of `runner run` (k-means features,
# so both the feature stages and training report progress):
#   - stderr not a terminal: plain per-epoch and per-stage lines, no "\r" and
#     no escape sequences, nothing on stdout;
#   - --quiet: empty stderr and stdout on success;
#   - under a pseudo-terminal (util-linux `script`, skipped with a message if
#     absent): the in-place line ("\r", ESC[K with a real TERM, padding with
#     TERM=dumb) showing epoch k/N, batch b/B, loss/accuracy, elapsed and
#     ETA, plus the permanent per-epoch lines;
#   - the metrics recorded with the per-batch display on are bit-identical
#     to those recorded without it (sqlite3 CLI, skipped if absent).
# Environment (set by ctest): RUNNER_BIN, RUNNER_TESTDATA.
set -euo pipefail

bin=${RUNNER_BIN:?RUNNER_BIN is not set (run through ctest)}
data=${RUNNER_TESTDATA:?RUNNER_TESTDATA is not set (run through ctest)}
work=$(mktemp -d -- "${TMPDIR:-/tmp}/test_progress.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

failed=0
fail() { echo "FAIL: $*" >&2; failed=$((failed + 1)); }
has() { grep -qF -- "$2" "$1" || fail "$3: expected \"$2\" in $1"; }

cat >"$work/p.yaml" <<YAML
name: progress
seed: 3
data: {dir: $data, train_limit: 500, test_limit: 200}
features:
  kind: kmeans
  cache: false
  kmeans: {centroids: 8, patches: 1000, iterations: 3, stride: 4}
model: {layers: [32, 16, 10]}
training: {epochs: 3, batch_size: 5, learning_rate: 0.05}
output: {dir: $work/results, database: $work/results/r.db}
YAML

# 1. Not a terminal.
rc=0
"$bin" "$work/p.yaml" --force >"$work/plain.out" 2>"$work/plain.err" || rc=$?
[[ $rc == 0 ]] || fail "plain run exited $rc"
for k in 1 2 3; do
  n=$(grep -c "^epoch $k/3  train loss .* acc .*%  test loss .* acc .*%  lr .*s$" "$work/plain.err" || true)
  [[ $n == 1 ]] || fail "plain: expected one line for epoch $k/3, got $n"
done
has "$work/plain.err" "runner: features: k-means 3/3 (" "plain"
has "$work/plain.err" "runner: features: encode train 500/500 (" "plain"
has "$work/plain.err" "runner: features: encode test 200/200 (" "plain"
if grep -q $'\r' "$work/plain.err" || grep -q $'\033' "$work/plain.err"; then
  fail "plain: carriage return or escape sequence on a non-terminal"
fi
grep -q "batch" "$work/plain.err" && fail "plain: per-batch progress on a non-terminal"
[[ ! -s $work/plain.out ]] || fail "plain: output on stdout"

# 2. --quiet, not a terminal.
rc=0
"$bin" "$work/p.yaml" --force --quiet >"$work/quiet.out" 2>"$work/quiet.err" || rc=$?
[[ $rc == 0 ]] || fail "quiet run exited $rc"
[[ ! -s $work/quiet.err ]] || fail "quiet: stderr is not empty: $(head -c 300 "$work/quiet.err")"
[[ ! -s $work/quiet.out ]] || fail "quiet: stdout is not empty"

# 3. Under a pseudo-terminal.
tty_runs=0
if command -v script >/dev/null 2>&1; then
  # script copies everything the program writes to the terminal to stdout.
  rc=0
  TERM=xterm script -qec "'$bin' '$work/p.yaml' --force" /dev/null </dev/null >"$work/tty.txt" 2>&1 || rc=$?
  [[ $rc == 0 ]] || fail "tty run exited $rc"
  tty_runs=2
  if ! grep -qaE $'\repoch 1/3  batch [0-9]+/100 \\([0-9]+%\\)  loss [0-9.]+ acc [0-9.]+%  [0-9]+:[0-9]{2} elapsed  ETA ([0-9]+:)?[0-9]+:[0-9]{2}\033\\[K' "$work/tty.txt"; then
    fail "tty: no in-place training line in: $(head -c 600 "$work/tty.txt" | cat -v)"
  fi
  grep -qa $'\rfeatures: k-means [0-9]*/3 (' "$work/tty.txt" ||
    fail "tty: no in-place feature line in: $(head -c 600 "$work/tty.txt" | cat -v)"
  for k in 1 2 3; do
    grep -qa "epoch $k/3  train loss" "$work/tty.txt" || fail "tty: no permanent line for epoch $k"
  done
  # The in-place line is cleared before each permanent line.
  grep -qa $'\r\033\\[Kepoch 1/3  train loss' "$work/tty.txt" ||
    fail "tty: epoch line not preceded by clearing the status line"

  rc=0
  TERM=dumb script -qec "'$bin' '$work/p.yaml' --force" /dev/null </dev/null >"$work/dumb.txt" 2>&1 || rc=$?
  [[ $rc == 0 ]] || fail "dumb tty run exited $rc"
  grep -qa $'\repoch 1/3  batch ' "$work/dumb.txt" || fail "dumb tty: no in-place training line"
  grep -qa $'\033' "$work/dumb.txt" && fail "dumb tty: escape sequence with TERM=dumb"

else
  echo "test_progress: 'script' (util-linux) not found; pseudo-terminal checks skipped"
fi

# 4. The display never changes the results: every run of the same config
#    recorded the same metrics, with and without the per-batch callback.
if command -v sqlite3 >/dev/null 2>&1; then
  runs=$(sqlite3 "$work/results/r.db" "SELECT count(*) FROM runs")
  [[ $runs == $((2 + tty_runs)) ]] || fail "expected $((2 + tty_runs)) runs in the database, got $runs"
  distinct=$(sqlite3 "$work/results/r.db" "SELECT count(DISTINCT m) FROM (SELECT run_id,
      group_concat(printf('%d %.17g %.17g %.17g %.17g', epoch, train_loss, train_acc, test_loss,
      test_acc), ';') AS m FROM (SELECT * FROM epochs ORDER BY run_id, epoch) GROUP BY run_id)")
  [[ $distinct == 1 ]] || fail "runs of one config recorded different metrics ($distinct variants)"
else
  echo "test_progress: sqlite3 CLI not found; bit-identity check skipped"
fi

if ((failed)); then
  echo "test_progress: $failed failure(s)" >&2
  exit 1
fi
echo "test_progress: ok"
