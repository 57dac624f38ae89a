#!/usr/bin/env bash
# End-to-end test of overrides, sweeps (runner -m), -j, skip/--force, the
# summary and exit code, SIGINT, and --emit slurm with one task run by hand,
# on the small generated dataset.
#
# Environment (set by ctest): RUNNER_BIN, RUNNER_TESTDATA.
set -uo pipefail

runner=${RUNNER_BIN:?set by ctest}
data=${RUNNER_TESTDATA:?set by ctest}
work=$(mktemp -d -- "${TMPDIR:-/tmp}/test_sweep.XXXXXX")
failures=0
checks=0

fail() {
  echo "test_sweep: FAIL: $*" >&2
  failures=$((failures + 1))
}
check() { # check DESCRIPTION COMMAND...
  local what=$1
  shift
  checks=$((checks + 1))
  "$@" || fail "$what"
}
q() { sqlite3 -batch -noheader "$1" "$2"; }
eq() { [[ $1 == "$2" ]] || { echo "  got '$1', expected '$2'" >&2; return 1; }; }
contains() { grep -qF -- "$2" "$1" || { echo "  $1 lacks '$2':" >&2; sed 's/^/    /' "$1" >&2; return 1; }; }

# Most cases use tiny .npy features written here (400 x 16, a run takes a
# fraction of a second even under sanitizers); the 4-run sweep with -j 2, its
# re-issue and the Slurm task use the generated CIFAR-10 fixture.
npy_header() { # FILE DESCR SHAPE: .npy version 1.0 header, padded to 64 bytes
  local dict="{'descr': '$2', 'fortran_order': False, 'shape': $3, }"
  local len=$((${#dict} + 1))
  local total=$(((10 + len + 63) / 64 * 64))
  local hl=$((total - 10))
  printf '\x93NUMPY\x01\x00' > "$1"
  printf "\\x$(printf %02x $((hl & 255)))\\x$(printf %02x $((hl >> 8)))" >> "$1"
  printf '%s%*s\n' "$dict" $((total - 10 - len)) '' >> "$1"
}
write_set() { # NAME ROWS: NAME.npy (ROWS x 16 float32) and NAME_labels.npy (uint8)
  local name=$1 rows=$2 i j y row labels=''
  local noise=('\x00\x00\x00\x00' '\x00\x00\x00\x3f' '\x00\x00\x80\xbf') # 0, 0.5, -1
  npy_header "$work/$name.npy" '<f4' "($rows, 16)"
  npy_header "$work/${name}_labels.npy" '|u1' "($rows,)"
  for ((i = 0; i < rows; i++)); do
    y=$((i % 10))
    row=''
    for ((j = 0; j < 16; j++)); do
      if ((j == y)); then row+='\x00\x00\x80\x3f'; else row+=${noise[$(((i * 7 + j * 3) % 3))]}; fi
    done
    printf "$row" >> "$work/$name.npy"
    labels+="\\x0$y"
  done
  printf "$labels" >> "$work/${name}_labels.npy"
}
write_set train 400
write_set test 100

cat > "$work/tiny.yaml" <<YAML
name: tiny
seed: 1
threads: 1
features:
  kind: npy
  npy: {train: train.npy, train_labels: train_labels.npy, test: test.npy, test_labels: test_labels.npy}
model: {layers: [16, 8, 10]}
training: {epochs: 2, batch_size: 50, learning_rate: 0.05}
output: {dir: $work/results, database: $work/results/r.db}
YAML
cat > "$work/cifar.yaml" <<YAML
name: cifar
seed: 1
threads: 1
data: {dir: $data, train_limit: 400, test_limit: 100}
model: {layers: [3072, 8, 10]}
training: {epochs: 2, batch_size: 50, learning_rate: 0.01}
output: {dir: $work/results, database: $work/results/r.db}
YAML
db=$work/results/r.db
cd "$work" || exit 1

# ---- overrides on a single run ------------------------------------------
"$runner" tiny.yaml training.epochs=1 seed=9 'model.layers=[16, 12, 10]' --quiet \
  2> single.err
check "single run with overrides exits 0" eq $? 0
check "overrides recorded" eq "$(q "$db" "SELECT overrides FROM runs")" \
  '["training.epochs=1","seed=9","model.layers=[16, 12, 10]"]'
check "resolved config has them" eq \
  "$(q "$db" "SELECT json_extract(config_json, '$.training.epochs') || ' ' || seed || ' ' ||
             json_extract(config_json, '$.model.layers') FROM runs")" "1 9 [16,12,10]"
check "epochs follow the override" eq "$(q "$db" "SELECT count(*) FROM epochs")" 1
json=$(q "$db" "SELECT json_path FROM runs")
check "JSON file records the overrides" contains "$json" '"overrides":'
check "JSON file has seed=9" contains "$json" '"seed=9"'
check "single run has no sweep" eq "$(q "$db" "SELECT count(*) FROM runs WHERE sweep_id IS NULL")" 1
# a plain run identical to a completed one is skipped too, unless --force
"$runner" tiny.yaml training.epochs=1 seed=9 'model.layers=[16, 12, 10]' 2> plain.err
check "plain re-run exits 0" eq "$?" 0
check "plain re-run is skipped" eq "$(q "$db" "SELECT count(*) FROM runs")" 1
check "plain re-run says so" contains plain.err "skipped: completed as run 1"
"$runner" tiny.yaml training.epochs=1 seed=9 'model.layers=[16, 12, 10]' --force --quiet
check "plain re-run with --force runs" eq "$(q "$db" "SELECT count(*) FROM runs")" 2

# errors: exit 3, one line naming the override, nothing written
"$runner" tiny.yaml train.lr=0.05 --quiet 2> bad.err
check "unknown override exits 3" eq $? 3
check "unknown override suggests" contains bad.err \
  'runner: override 1 (`train.lr=0.05`): train.lr: unknown key; did you mean training.learning_rate'
"$runner" tiny.yaml seed=1 training.learning_rate=99 2> bad.err
check "out of range override exits 3" eq $? 3
check "out of range names override 2" contains bad.err \
  'override 2 (`training.learning_rate=99`): training.learning_rate: expected a number in (0, 10], got 99'
"$runner" tiny.yaml seed=1,2 2> bad.err
check "comma list without -m is one (bad) value" eq $? 3
"$runner" tiny.yaml 'model.layers=[32, 10]' 2> bad.err
check "layers against the .npy width exits 3" eq $? 3
check "names the override" contains bad.err 'override 1 (`model.layers=[32, 10]`): model.layers[0]: expected 16'
check "bad runs not written" eq "$(q "$db" "SELECT count(*) FROM runs")" 2
"$runner" tiny.yaml -j 2 2> bad.err
check "-j without -m is a usage error" eq $? 2

# ---- skip, extend, --force -------------------------------------------------
rm -rf results
"$runner" -m tiny.yaml training.learning_rate=0.05,0.1 seed=1,2 -j 2 2> n1.err
check "npy sweep exits 0" eq $? 0
"$runner" -m tiny.yaml training.learning_rate=0.05,0.1,0.2 seed=1,2 -j 2 2> n2.err
check "extended sweep exits 0" eq $? 0
check "only the 2 missing ran" contains n2.err ": 6 runs: 2 completed, 4 skipped"
check "6 rows" eq "$(q "$db" "SELECT count(*) FROM runs")" 6
check "two sweeps recorded" eq "$(q "$db" "SELECT group_concat(n_runs) FROM (SELECT n_runs FROM sweeps ORDER BY created_at, n_runs)")" "4,6"
"$runner" -m tiny.yaml training.learning_rate=0.05,0.1 seed=1,2 -j 2 --force 2> n3.err
check "forced sweep exits 0" eq $? 0
check "forced: all 4 ran" contains n3.err ": 4 runs: 4 completed"
check "forced: 4 more rows" eq "$(q "$db" "SELECT count(*) FROM runs WHERE status='completed'")" 10
check "forced: identical metrics" eq "$(q "$db" "SELECT count(*) || ' ' || count(DISTINCT final_test_loss) FROM runs WHERE name='tiny-lr0.05-seed2'")" "2 1"
# --sweep-id continues a named sweep
"$runner" -m tiny.yaml seed=3 --sweep-id my-sweep 2> n4.err
check "named sweep exits 0" eq $? 0
check "named sweep's run" eq "$(q "$db" "SELECT count(*) FROM runs WHERE sweep_id='my-sweep'")" 1

# ---- one bad run does not stop the others --------------------------------
rm -rf results
"$runner" -m tiny.yaml training.batch_size=50,5000 'training.learning_rate=0.05,10' \
  training.momentum=0.99 training.epochs=20 -j 2 2> mixed.err
rc=$?
check "mixed sweep exits 3 (config error outranks divergence)" eq $rc 3
check "summary counts" contains mixed.err ": 4 runs: 1 completed, 2 failed, 1 diverged"
check "failed run's exit code" contains mixed.err "failed (exit 3)"
check "diverged run" contains mixed.err "diverged (exit 6)"
check "the others completed" eq "$(q "$db" "SELECT status FROM runs WHERE name='tiny-bs50-lr0.05'")" completed
check "diverged recorded" eq "$(q "$db" "SELECT status FROM runs WHERE name='tiny-bs50-lr10'")" diverged
rm -rf results
"$runner" -m tiny.yaml 'training.learning_rate=0.05,10' training.momentum=0.99 training.epochs=20 \
  2> div.err
check "a diverged run alone: exit 6" eq $? 6

# ---- parallel writers lose no rows: 4 processes x 40 epochs --------------
rm -rf results
"$runner" -m tiny.yaml seed=1,2,3,4 training.epochs=40 training.batch_size=400 -j 4 2> par.err
check "parallel sweep exits 0" eq $? 0
check "every epoch row landed" eq "$(q "$db" "SELECT count(*) FROM epochs")" 160
check "every run has 40" eq "$(q "$db" "SELECT group_concat(epochs_done) FROM runs")" "40,40,40,40"
check "4 distinct runs" eq "$(q "$db" "SELECT count(DISTINCT run_id) FROM epochs")" 4

# ---- the sweep: section ---------------------------------------------------
rm -rf results
cp tiny.yaml swept.yaml
printf 'sweep:\n  seed: [1, 2]\n  training.learning_rate: [0.05, 0.1]\n' >> swept.yaml
"$runner" swept.yaml 2> swept.err
check "a file with a sweep needs -m" eq $? 2
check "and says so" contains swept.err "run it with runner -m swept.yaml"
"$runner" -m swept.yaml 2> swept.err
check "file sweep exits 0" eq $? 0
check "file sweep: 4 runs in order" eq "$(q "$db" "SELECT group_concat(name, ' ') FROM (SELECT name FROM runs ORDER BY id)")" \
  "tiny-seed1-lr0.05 tiny-seed1-lr0.1 tiny-seed2-lr0.05 tiny-seed2-lr0.1"
rm -rf results
"$runner" -m swept.yaml training.learning_rate=0.2 seed=3,4,5 2> swept.err
check "file sweep + command line exits 0" eq $? 0
check "command line replaced both axes" eq "$(q "$db" "SELECT group_concat(name, ' ') FROM (SELECT name FROM runs ORDER BY id)")" \
  "tiny-seed3 tiny-seed4 tiny-seed5"
check "lr from the command line" eq "$(q "$db" "SELECT count(*) FROM params WHERE key='training.learning_rate' AND value=0.2")" 3
cp tiny.yaml bad.yaml
printf 'sweep:\n  seed: []\n' >> bad.yaml
"$runner" -m bad.yaml 2> bad.err
check "empty sweep list exits 3" eq $? 3
check "empty sweep list message" contains bad.err "sweep.seed: expected a non-empty list of values"
"$runner" -m tiny.yaml seed=1,,2 2> bad.err
check "empty comma value exits 3" eq $? 3
"$runner" -m tiny.yaml seed=1,x 2> bad.err
check "a bad value in a sweep exits 3 before anything runs" eq $? 3
check "names the run and override" contains bad.err "sweep run 2 of 2: override 1 (\`seed=x\`)"
check "nothing ran" eq "$(q "$db" "SELECT count(*) FROM runs")" 3

# ---- SIGINT: stop launching, forward, exit 8 ------------------------------
rm -rf results
"$runner" -m tiny.yaml seed=1,2,3 training.epochs=100000 training.batch_size=400 2> int.err &
pid=$!
for _ in $(seq 1 300); do
  grep -q "started" int.err 2> /dev/null && break
  sleep 0.1
done
sleep 0.5
kill -INT "$pid"
wait "$pid"
check "interrupted sweep exits 8" eq $? 8
check "interrupted summary" contains int.err "1 interrupted, 2 not started"

# ---- the generated CIFAR-10 data: 4 runs, 2 at a time; re-issued ----------
rm -rf results
"$runner" -m cifar.yaml training.learning_rate=0.01,0.02 seed=1,2 -j 2 2> sweep1.err
check "sweep exits 0" eq $? 0
check "4 completed rows" eq "$(q "$db" "SELECT count(*) FROM runs WHERE status='completed'")" 4
check "one sweep id for all" eq "$(q "$db" "SELECT count(DISTINCT sweep_id) FROM runs")" 1
check "sweep row" eq "$(q "$db" "SELECT n_runs || ' ' || (id = (SELECT sweep_id FROM runs LIMIT 1)) FROM sweeps")" "4 1"
check "spec recorded" eq "$(q "$db" "SELECT json_extract(spec, '$.axes[1].values') FROM sweeps")" '["1","2"]'
check "names and order" eq "$(q "$db" "SELECT group_concat(name, ' ') FROM (SELECT name FROM runs ORDER BY name)")" \
  "cifar-lr0.01-seed1 cifar-lr0.01-seed2 cifar-lr0.02-seed1 cifar-lr0.02-seed2"
check "per-run overrides" eq "$(q "$db" "SELECT overrides FROM runs WHERE name='cifar-lr0.02-seed1'")" \
  '["training.learning_rate=0.02","seed=1","name=\"cifar-lr0.02-seed1\""]'
check "lr applied" eq "$(q "$db" "SELECT count(*) FROM params WHERE key='training.learning_rate' AND value=0.02")" 2
check "start lines" contains sweep1.err "started cifar-lr0.02-seed2"
check "summary" contains sweep1.err ": 4 runs: 4 completed"
"$runner" -m cifar.yaml training.learning_rate=0.01,0.02 seed=1,2 -j 2 2> sweep2.err
check "re-issued sweep exits 0" eq $? 0
check "nothing new" eq "$(q "$db" "SELECT count(*) FROM runs")" 4
check "all skipped" contains sweep2.err ": 4 runs: 4 skipped"
check "skip names the run" contains sweep2.err "skipped: completed as run"

# ---- Slurm emit + one task by hand ----------------------------------------
rm -rf results
"$runner" -m cifar.yaml training.learning_rate=0.01,0.02 seed=1,2 --emit slurm em \
  --sbatch-time 00:10:00 --sbatch-cpus 2 --sbatch-mem 1G --sbatch-partition debug > emit.out 2> emit.err
check "emit exits 0" eq $? 0
check "nothing ran" test ! -e "$db"
s=$work/em/sweep.sbatch
check "array of 4" contains "$s" "#SBATCH --array=0-3"
check "time" contains "$s" "#SBATCH --time=00:10:00"
check "cpus" contains "$s" "#SBATCH --cpus-per-task=2"
check "mem" contains "$s" "#SBATCH --mem=1G"
check "partition" contains "$s" "#SBATCH --partition=debug"
check "absolute runner" contains "$s" "runner='$runner'"
check "4 lines in runs.tsv" eq "$(wc -l < em/runs.tsv)" 4
check "README says how to merge" contains em/README "runner merge OUT.db $work/em/shards/*.db"
check "sweep row for merge" eq "$(q em/shards/sweep.db "SELECT n_runs FROM sweeps")" 4
(cd / && SLURM_ARRAY_TASK_ID=1 bash "$s" > "$work/task1.out" 2>&1)
check "task 1 by hand exits 0" eq $? 0
shard=$work/em/shards/task-1.db
check "task 1 shard has run 2 of the sweep" eq \
  "$(q "$shard" "SELECT name || ' ' || status || ' ' || seed FROM runs")" "cifar-lr0.01-seed2 completed 2"
check "shard run has the sweep id" eq "$(q "$shard" "SELECT count(*) FROM runs JOIN sweeps ON sweeps.id = runs.sweep_id")" 1
check "its JSON file in results" test -n "$(ls em/results/cifar-lr0.01-seed2-*.json 2>/dev/null)"
SLURM_ARRAY_TASK_ID=4 bash "$s" > /dev/null 2> task4.err
check "task out of range exits 2" eq $? 2
SLURM_ARRAY_TASK_ID='0;x' bash "$s" > /dev/null 2> task4.err
check "non-numeric task exits 2" eq $? 2
"$runner" -m tiny.yaml --emit slurm em2 --sbatch-mem '1G
#SBATCH --x' 2> bad.err
check "bad --sbatch-mem exits 2" eq $? 2
"$runner" tiny.yaml --sbatch-cpus 2 2> bad.err
check "--sbatch-* without --emit exits 2" eq $? 2

echo "test_sweep: $checks checks, $failures failed"
if ((failures == 0)); then
  rm -rf -- "$work"
  exit 0
fi
echo "kept $work for inspection" >&2
exit 1
