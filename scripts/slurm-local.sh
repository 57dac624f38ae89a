#!/usr/bin/env bash
# slurm-local.sh: a one-node Slurm cluster on this machine (munge +
# slurmctld + slurmd on localhost), a small runner sweep submitted to it as a
# job array, then `runner merge` of the shards and a check of the rows.
#
#   sudo scripts/slurm-local.sh [--runner PATH] [--data DIR] [--work DIR] [--keep]
#
#   --runner PATH  the runner binary (default: build/runner of this checkout)
#   --data DIR     CIFAR-10 binary batches (default: generated with
#                  build/gen_cifar into the work directory)
#   --work DIR     where the config, state, logs and shards go (default: a
#                  new /tmp/slurm-local.XXXXXX)
#   --keep         leave the daemons running at the end (stop them with
#                  SLURM_CONF=DIR/etc/slurm.conf scontrol shutdown)
#
# Needs root: it installs slurm-wlm and munge with apt-get if they are
# missing, starts munged (if not already running) and the Slurm daemons with
# a slurm.conf of its own (DIR/etc/slurm.conf: this host's name, CPUs and
# memory from `slurmd -C`; no system file is changed besides the munge key
# the munge package creates). If the runner has `-m ... --emit slurm DIR`,
# the job array is the one it writes (6 runs: 3 seeds x 2 learning rates);
# otherwise a job array script of this file's own runs 6 tasks with one
# experiment file each. Each task writes its own database shard; the shards
# are merged twice (the second merge must change nothing) and the rows are
# checked. Exit 0 only if every step worked. Not part of CI (it starts system
# daemons); README "Slurm (one-node test)" shows a run.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runner="$here/build/runner"
data=""
work=""
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --runner) runner=$2; shift 2 ;;
        --data) data=$2; shift 2 ;;
        --work) work=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "slurm-local.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

say() { printf '[slurm-local %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { printf 'slurm-local.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages and starts daemons)"
[ -x "$runner" ] || die "$runner: no runner binary (build first, or pass --runner)"
runner=$(cd "$(dirname "$runner")" && pwd)/$(basename "$runner")
t_start=$(date +%s)

# ---- packages -----------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null ||
   ! command -v munged >/dev/null || ! command -v sbatch >/dev/null ||
   ! command -v sqlite3 >/dev/null; then
    say "installing slurm-wlm, munge and sqlite3"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends slurm-wlm munge \
        sqlite3
fi
say "$(slurmctld -V)"

# ---- work directory and data --------------------------------------------
if [ -z "$work" ]; then
    work=$(mktemp -d /tmp/slurm-local.XXXXXX)
fi
mkdir -p "$work"/{etc,state,spool,log}
work=$(cd "$work" && pwd)
say "work directory $work"
if [ -z "$data" ]; then
    gen="$(dirname "$runner")/gen_cifar"
    [ -x "$gen" ] || die "$gen: missing; pass --data DIR with CIFAR-10 binary batches"
    data="$work/cifar"
    [ -f "$data/test_batch.bin" ] || "$gen" "$data" >/dev/null
fi
data=$(cd "$data" && pwd)

# ---- munge --------------------------------------------------------------
started_munged=0
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    if [ ! -s /etc/munge/munge.key ]; then
        say "creating /etc/munge/munge.key"
        if command -v mungekey >/dev/null; then
            runuser -u munge -- mungekey --create
        else
            dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
            chown munge:munge /etc/munge/munge.key
            chmod 0400 /etc/munge/munge.key
        fi
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    say "starting munged"
    runuser -u munge -- /usr/sbin/munged
    started_munged=1
    for _ in $(seq 50); do
        munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.1
    done
fi
munge -n </dev/null | unmunge >/dev/null || die "munge does not work"

# ---- slurm.conf ---------------------------------------------------------
host=$(hostname -s)
node=$(slurmd -C | head -n 1)   # NodeName=... CPUs=... RealMemory=...
case "$node" in NodeName=*) ;; *) die "slurmd -C printed '$node'" ;; esac
export SLURM_CONF="$work/etc/slurm.conf"
cat > "$SLURM_CONF" <<EOF
# one-node cluster written by scripts/slurm-local.sh
ClusterName=runnerlocal
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=${SLURM_LOCAL_CTLD_PORT:-6817}
SlurmdPort=${SLURM_LOCAL_SLURMD_PORT:-6818}
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
MinJobAge=600
$node
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF


stop_daemons() {
    if [ "$keep" -eq 1 ]; then
        say "daemons left running: SLURM_CONF=$SLURM_CONF scontrol shutdown"
        return
    fi
    scontrol shutdown >/dev/null 2>&1 || true
    for f in "$work/slurmctld.pid" "$work/slurmd.pid"; do
        for _ in $(seq 50); do
            [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null || break
            sleep 0.1
        done
        if [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; then kill "$(cat "$f")" || true; fi
    done
    if [ "$started_munged" -eq 1 ] && [ -f /run/munge/munged.pid ]; then
        kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true
    fi
    say "daemons stopped"
}
trap stop_daemons EXIT

say "starting slurmctld and slurmd ($node)"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
state=""
for _ in $(seq 120); do
    state=$(sinfo -h -N -n "$host" -o %T 2>/dev/null || true)
    case "$state" in idle*) break ;; esac
    case "$state" in down*|drain*|unknown*) scontrol update nodename="$host" state=resume 2>/dev/null || true ;; esac
    sleep 0.5
done
case "$state" in idle*) ;; *) die "node $host is '$state', not idle (see $work/log)" ;; esac
sinfo

# ---- the sweep ----------------------------------------------------------
epochs=3
cat > "$work/exp.yaml" <<EOF
name: slurm-local
seed: 1
data:
  dir: $data
  train_limit: 2000
  test_limit: 500
model:
  layers: [3072, 32, 10]
training:
  epochs: $epochs
  batch_size: 50
  learning_rate: 0.01
output:
  dir: $work/results
  database: $work/unused.db
EOF
shards="$work/sweep/shards"
if "$runner" --help | grep -q -- '--emit slurm'; then
    say "job array from: runner -m exp.yaml seed=1,2,3 training.learning_rate=0.01,0.02 --emit slurm"
    (cd "$work" && "$runner" -m exp.yaml seed=1,2,3 training.learning_rate=0.01,0.02 \
        --emit slurm "$work/sweep" --sbatch-time 00:10:00 --sbatch-cpus 1 --threads 1)
    script="$work/sweep/sweep.sbatch"
else
    say "this runner has no --emit slurm: using a job array script of slurm-local.sh's own"
    mkdir -p "$shards" "$work/sweep/logs"
    i=0
    for seed in 1 2 3; do
        for lr in 0.01 0.02; do
            sed -e "s/^seed: .*/seed: $seed/" -e "s/learning_rate: .*/learning_rate: $lr/" \
                "$work/exp.yaml" > "$work/sweep/task-$i.yaml"
            i=$((i + 1))
        done
    done
    script="$work/sweep/sweep.sbatch"
    cat > "$script" <<EOF
#!/bin/bash
#SBATCH --job-name=runner-local
#SBATCH --array=0-5
#SBATCH --time=00:10:00
#SBATCH --cpus-per-task=1
#SBATCH --output=$work/sweep/logs/task-%a.out
set -euo pipefail
exec "$runner" "$work/sweep/task-\${SLURM_ARRAY_TASK_ID}.yaml" \\
    --db "$shards/task-\${SLURM_ARRAY_TASK_ID}.db" --threads 1
EOF
fi
n_runs=6
job=$(cd "$work" && sbatch --parsable "$script")
job=${job%%;*}
say "submitted job array $job ($n_runs tasks)"
for _ in $(seq 1200); do
    left=$(squeue -h -j "$job" 2>/dev/null | wc -l)
    [ "$left" -eq 0 ] && break
    sleep 0.5
done
squeue -h -j "$job" | grep -q . && die "job $job still queued or running after 10 minutes"
states=$(scontrol -o show job "$job" | grep -o 'JobState=[A-Z_]*' | sort | uniq -c)
say "task states: $(echo $states)"
completed=$(scontrol -o show job "$job" | grep -c 'JobState=COMPLETED' || true)
[ "$completed" -eq "$n_runs" ] || {
    tail -n 5 "$work"/sweep/logs/* >&2 || true
    die "$completed of $n_runs tasks completed"
}

# ---- merge and check ----------------------------------------------------
merged="$work/merged.db"
ls "$shards"
"$runner" merge "$merged" "$shards"/*.db
q() { sqlite3 "$merged" "$1"; }
check() { # check WHAT ACTUAL EXPECTED
    if [ "$2" != "$3" ]; then die "$1: got $2, expected $3"; fi
    say "ok: $1 = $2"
}
check "runs" "$(q 'SELECT count(*) FROM runs')" "$n_runs"
check "completed runs" "$(q "SELECT count(*) FROM runs WHERE status = 'completed'")" "$n_runs"
check "epoch rows" "$(q 'SELECT count(*) FROM epochs')" "$((n_runs * epochs))"
check "distinct (seed, lr)" "$(q "SELECT count(DISTINCT r.seed || '/' || p.value) FROM runs r
    JOIN params p ON p.run_id = r.id AND p.key = 'training.learning_rate'")" "$n_runs"
check "integrity" "$(q 'PRAGMA integrity_check')" "ok"
if [ -f "$shards/sweep.db" ]; then
    check "sweeps" "$(q 'SELECT count(*) FROM sweeps')" "1"
    check "runs in the sweep" "$(q 'SELECT count(*) FROM runs WHERE sweep_id = (SELECT id FROM sweeps)')" "$n_runs"
    check "sweep n_runs" "$(q 'SELECT n_runs FROM sweeps')" "$n_runs"
fi
before=$(q 'SELECT count(*) FROM runs; SELECT count(*) FROM epochs; SELECT count(*) FROM params')
"$runner" merge "$merged" "$shards"/*.db
after=$(q 'SELECT count(*) FROM runs; SELECT count(*) FROM epochs; SELECT count(*) FROM params')
check "rows after merging again" "$(echo $after)" "$(echo $before)"
q "SELECT id, name, seed, status, epochs_done, printf('%.4f', final_test_acc), host FROM runs ORDER BY id" |
    sed 's/^/  /'
say "done in $(( $(date +%s) - t_start )) s"
