#!/usr/bin/env bash
# test_corpus.sh: runs `runner` on every case of the bad-input corpus
# (tests/corpus/manifest.tsv, made by tests/corpus/gen_corpus.py) and checks
# for each one:
#   - the exit code is the expected one (and never a crash or a hang);
#   - stderr is exactly one line, "runner: ...", containing the expected
#     fragment and (for experiment-file cases) the experiment file's name;
#   - a results database and JSON directory that existed before (made by a
#     real run at the start) are byte-identical afterwards, with no file
#     added or removed, and so is every regular file of the case itself
#     (e.g. a foreign database the runner refused). SQLite's -wal and -shm
#     side files may appear next to a database it could open but not write
#     (they hold nothing and are ignored or recovered by the next open);
#     other new files only for cases flagged "creates";
#   - config cases: `runner validate` reports the same message (except the
#     cases flagged "runtime", which only a run can detect). To keep the
#     sanitizer build fast, one `runner validate` call checks all of them
#     (those without a setup recipe): one error line per file, each with
#     its case's fragment, and the exit code the highest expected one.
# Cases flagged "nobody" run as an unprivileged user (uid 65534) through
# setpriv, because permission bits do not stop root; without setpriv, or when
# not root and the case needs a uid switch, they are skipped with a reason.
# Cases flagged "fsize" run with RLIMIT_FSIZE at 4 KiB and SIGXFSZ ignored,
# so writes that grow a file fail with EFBIG, like a full disk.
#
# Environment (set by ctest): RUNNER_BIN, RUNNER_SOURCE_DIR, RUNNER_TESTDATA.
# Optional: CORPUS_FILTER=REGEX runs only the matching cases.
set -uo pipefail
export LC_ALL=C

: "${RUNNER_BIN:?run through ctest}" "${RUNNER_SOURCE_DIR:?}" "${RUNNER_TESTDATA:?}"
corpus=$(cd "$RUNNER_SOURCE_DIR/tests/corpus" && pwd)
manifest=$corpus/manifest.tsv
good=$RUNNER_TESTDATA
filter=${CORPUS_FILTER:-}

work=$(mktemp -d /tmp/runner-corpus-XXXXXX)
trap 'chmod -R u+rwx "$work" 2>/dev/null; rm -rf "$work"' EXIT
chmod 755 "$work"
res=$work/res
mkdir -p "$res"

# ---- a real run, so there is something to damage ----------------------------
cat >"$work/seed.yaml" <<EOF
name: "seed run; keep: it's -- here"
seed: 5
data: {dir: $good, train_limit: 200, test_limit: 100}
model: {layers: [3072, 10]}
training: {epochs: 2, batch_size: 50}
output: {dir: $res/json, database: $res/results.db}
EOF
if ! "$RUNNER_BIN" run "$work/seed.yaml" --quiet 2>"$work/seed.err"; then
  echo "test_corpus: the seed run failed:" >&2
  cat "$work/seed.err" >&2
  exit 1
fi
chmod -R a+rX "$res"

# Tiny .npy features for the output cases: x (20 x 4 float32 zeros), y (20
# labels 0); headers padded to 64 bytes as the format asks.
npy_file() { # npy_file PATH DESCR SHAPE PAYLOAD_BYTES
  local dict="{'descr': '$2', 'fortran_order': False, 'shape': $3, }"
  local pad=$(((64 - (10 + ${#dict} + 1) % 64) % 64))
  local hlen=$((${#dict} + pad + 1))
  {
    printf "\x93NUMPY\x01\x00\x$(printf %02x $((hlen % 256)))\x$(printf %02x $((hlen / 256)))"
    printf '%s%*s\n' "$dict" "$pad" ''
    head -c "$4" /dev/zero
  } >"$1"
}
mkdir "$work/npy"
npy_file "$work/npy/x.npy" '<f4' '(20, 4)' 320
npy_file "$work/npy/y.npy" '|u1' '(20,)' 20
chmod -R a+rX "$work/npy"

snapshot() { # snapshot DIR: every regular file with its sha256, sorted
  (cd "$1" && find . -type f -print0 | sort -z | xargs -0r sha256sum)
}
res_before=$(snapshot "$res")
[[ $res_before == *"./json/"* ]] || {
  echo "test_corpus: the seed run left no JSON file" >&2
  exit 1
}

# Permission cases run as uid 65534 when we are root; that user must be able
# to run the runner and read the fixture (not so if the tree is under a
# private home directory), else those cases are skipped with the reason.
have_setpriv=0 nobody_reason="needs setpriv to drop root (root ignores permission bits)"
if [[ $(id -u) -eq 0 ]] && command -v setpriv >/dev/null 2>&1; then
  if setpriv --reuid=65534 --regid=65534 --clear-groups \
    sh -c 'test -x "$1" && test -r "$2/test_batch.bin" && test -x "$3"' sh \
    "$RUNNER_BIN" "$good" "$work" 2>/dev/null; then
    have_setpriv=1
  else
    nobody_reason="uid 65534 cannot run $RUNNER_BIN or read $good"
  fi
fi

# ---- runner validate over every config case at once ------------------------
validate_files=() validate_worst=0
while IFS=$'\t' read -r file code fragment flags; do
  [[ -z $file || $file == \#* || $file != config/* ]] && continue
  [[ -n $filter && ! $file =~ $filter ]] && continue
  [[ ,$flags, == *,runtime,* || -f $corpus/${file%.yaml}.setup ]] && continue
  validate_files+=("./$(basename "$file")")
  ((code > validate_worst)) && validate_worst=$code
done <"$manifest"
validate_rc=0
if ((${#validate_files[@]} > 0)); then
  (cd "$corpus/config" && exec timeout -k 5 300 "$RUNNER_BIN" validate "${validate_files[@]}") \
    >/dev/null 2>"$work/validate.err" || validate_rc=$?
fi

n_pass=0 n_fail=0 n_skip=0
fail() { # fail CASE MESSAGE...
  local c=$1
  shift
  echo "FAIL $c: $*" >&2
  n_fail=$((n_fail + 1))
}

while IFS=$'\t' read -r file code fragment flags; do
  [[ -z $file || $file == \#* ]] && continue
  [[ -n $filter && ! $file =~ $filter ]] && continue
  kind=${file%%/*}
  base=$(basename "$file")
  setup=$corpus/${file%.*}.setup
  nobody=0 fsize=0 runtime=0 nofile=0 creates=0 recover=0
  [[ ,$flags, == *,creates,* ]] && creates=1
  [[ ,$flags, == *,recover,* ]] && recover=1
  [[ ,$flags, == *,nobody,* ]] && nobody=1
  [[ ,$flags, == *,fsize,* ]] && fsize=1
  [[ ,$flags, == *,runtime,* ]] && runtime=1
  [[ ,$flags, == *,nofile,* ]] && nofile=1
  if ((nobody && !have_setpriv)); then
    if [[ $(id -u) -ne 0 ]]; then
      # Not root: permission bits apply to us directly.
      nobody=0
    else
      echo "SKIP $file: $nobody_reason"
      n_skip=$((n_skip + 1))
      continue
    fi
  fi

  c=$work/case
  chmod -R u+rwx "$c" 2>/dev/null
  rm -rf "$c"
  mkdir "$c"
  chmod 777 "$c"
  ln -s "$good" "$c/good"
  ln -s "$res" "$c/res"
  ln -s "$work/npy" "$c/npy"
  cp "$corpus/$file" "$c/$base"
  chmod 644 "$c/$base"
  if [[ -f $setup ]]; then
    if ! (cd "$c" && GOOD=$good CASE=$base bash -e "$setup") >"$work/setup.log" 2>&1; then
      fail "$file" "setup failed: $(cat "$work/setup.log")"
      continue
    fi
  fi
  case_before=$(snapshot "$c")

  if [[ $kind == usage ]]; then
    mapfile -t args <"$corpus/$file"
  else
    args=(run "./$base" --quiet)
    [[ $kind == output ]] || args+=(--db res/results.db --results-dir res/json)
  fi
  cmd=("$RUNNER_BIN" "${args[@]}")
  ((nobody)) && cmd=(setpriv --reuid=65534 --regid=65534 --clear-groups "${cmd[@]}")
  if ((fsize)); then
    (cd "$c" && trap '' XFSZ && ulimit -f 4 && exec timeout -k 5 120 "${cmd[@]}") \
      >"$work/out" 2>"$work/err"
  else
    (cd "$c" && exec timeout -k 5 120 "${cmd[@]}") >"$work/out" 2>"$work/err"
  fi
  rc=$?
  if [[ $kind == usage ]]; then
    # The error is the first line; the usage text follows it.
    if ! grep -q '^usage: runner' "$work/err"; then
      fail "$file" "no usage text on stderr: $(head -c 600 "$work/err")"
      continue
    fi
    sed -i -n 1p "$work/err"
  fi
  err=$(cat "$work/err")
  lines=$(wc -l <"$work/err")
  ok=1
  if ((rc != code)); then
    fail "$file" "exit $rc, expected $code; stderr: ${err:0:600}"
    ok=0
  fi
  if ((ok)) && [[ $lines -ne 1 || ($err != "runner: "* && $kind != usage) ]]; then
    fail "$file" "expected one line 'runner: ...' on stderr, got $lines lines: ${err:0:600}"
    ok=0
  fi
  if ((ok)) && [[ $err != *"$fragment"* ]]; then
    fail "$file" "stderr lacks '$fragment': ${err:0:600}"
    ok=0
  fi
  if ((ok && !nofile)) && [[ $kind == config && $err != *"$base"* ]]; then
    fail "$file" "the message does not name the file $base: ${err:0:600}"
    ok=0
  fi
  if [[ $(snapshot "$res") != "$res_before" ]]; then
    fail "$file" "the existing results changed"
    diff <(echo "$res_before") <(snapshot "$res") >&2
    ok=0
    res_before=$(snapshot "$res")
  fi
  case_after=$(snapshot "$c")
  changed=$(comm -23 <(sort <<<"$case_before") <(sort <<<"$case_after"))
  added=$(comm -13 <(sort <<<"$case_before") <(sort <<<"$case_after") | grep -vE -- '-(wal|shm)$')
  ((creates)) && added=
  if [[ -n $changed || -n $added ]]; then
    fail "$file" "files of the case changed or appeared:"$'\n'"$changed"$'\n'"$added"
    ok=0
  fi
  if ((ok && recover)); then
    (cd "$c" && exec timeout -k 5 120 "$RUNNER_BIN" "${args[@]}") >/dev/null 2>"$work/rerr"
    rrc=$?
    if ((rrc != 0)); then
      fail "$file" "the same run without the fault failed ($rrc): $(head -c 600 "$work/rerr")"
      ok=0
    fi
  fi
  if ((ok)) && [[ $kind == config ]] && ((!runtime)); then
    if [[ -f $setup ]]; then
      (cd "$c" && exec timeout -k 5 120 "$RUNNER_BIN" validate "./$base") >/dev/null 2>"$work/verr"
      vrc=$?
      vlines=$(cat "$work/verr")
    else # checked by the one validate call above
      vrc=$code
      vlines=$(grep -F -- "runner: ./$base:" "$work/validate.err")
    fi
    if ((vrc != code)) || [[ $(grep -c . <<<"$vlines") -ne 1 || $vlines != *"$fragment"* ]]; then
      fail "$file" "validate: exit $vrc, expected $code; ${vlines:0:600}"
      ok=0
    fi
  fi
  ((ok)) && n_pass=$((n_pass + 1))
done <"$manifest"

if ((validate_rc != validate_worst)); then
  fail "runner validate" "exit $validate_rc over ${#validate_files[@]} files, expected $validate_worst"
fi
echo "test_corpus: $n_pass passed, $n_fail failed, $n_skip skipped"
((n_fail == 0 && n_pass > 0))
