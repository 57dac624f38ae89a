#!/usr/bin/env bash
# End-to-end test of scripts/get-cifar10.sh that needs no network.
#
# It builds small fake cifar-10-binary.tar.gz archives (the six batch files
# are sparse, all zero, exactly 30730000 bytes each, so the archives are a few
# hundred bytes), serves them through file:// URLs, and checks success, the
# "already present" path, RUNNER_CIFAR_DIR, and that every kind of failure
# (bad checksum, truncated download, damaged archive, missing or short file,
# failed download, interruption) exits non-zero with a clear message and
# leaves no partial data or temporary files behind.
#
# Environment:
#   RUNNER_SOURCE_DIR  repository root (set by ctest); defaults to two levels
#                      above this file
#   TMPDIR             where the test's scratch directory is made (/tmp)
# RUNNER_CIFAR_* variables from the caller are ignored (unset).
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
source_dir=${RUNNER_SOURCE_DIR:-$here/../..}
script=$source_dir/scripts/get-cifar10.sh
if [[ ! -f $script ]]; then
  echo "test_get_cifar10: cannot find $script (set RUNNER_SOURCE_DIR)" >&2
  exit 1
fi
unset RUNNER_CIFAR_DIR RUNNER_CIFAR_URL RUNNER_CIFAR_SHA256 RUNNER_CIFAR_MD5

work=$(mktemp -d -- "${TMPDIR:-/tmp}/test_get_cifar10.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

NAME=cifar-10-batches-bin
FILES=(data_batch_1.bin data_batch_2.bin data_batch_3.bin
       data_batch_4.bin data_batch_5.bin test_batch.bin)
SIZE=30730000

passed=0
failed=0
check() { # check DESCRIPTION COMMAND...: runs COMMAND, records the result
  local what=$1
  shift
  if "$@"; then
    echo "  ok   $what"
    passed=$((passed + 1))
  else
    echo "  FAIL $what"
    failed=$((failed + 1))
    if [[ -s $work/out ]]; then
      sed 's/^/       | /' "$work/out"
    fi
  fi
}

# run_get DEST [VAR=VALUE...]: runs the script on DEST with the given
# environment; sets $rc and leaves stdout+stderr in $work/out.
rc=0
run_get() {
  local dest=$1
  shift
  rc=0
  env "$@" bash "$script" "$dest" >"$work/out" 2>&1 || rc=$?
}

exit_ok() { [[ $rc -eq 0 ]]; }
exit_failed() { [[ $rc -ne 0 ]]; }
output_has() { grep -qiF -- "$1" "$work/out"; }

# complete DIR: DIR holds the six files with the right sizes.
complete() {
  local f
  for f in "${FILES[@]}"; do
    [[ -f $1/$f && $(stat -L -c %s -- "$1/$f") -eq $SIZE ]] || return 1
  done
}

# only_target DEST: DEST holds cifar-10-batches-bin and nothing else.
only_target() { [[ $(ls -A -- "$1") == "$NAME" ]]; }

# empty DEST: DEST is missing or empty (no data, no temporary files).
empty() { [[ ! -e $1 ]] || [[ -z $(ls -A -- "$1") ]]; }

sha256() { local s; s=$(sha256sum -- "$1") && echo "${s%% *}"; }
md5() { local s; s=$(md5sum -- "$1") && echo "${s%% *}"; }

# make_tree DIR [SKIP_FILE [SHORT_FILE]]: a fake DIR/cifar-10-batches-bin
# without SKIP_FILE and with SHORT_FILE one byte short.
make_tree() {
  local dir=$1/$NAME skip=${2:-} short=${3:-} f
  mkdir -p -- "$dir"
  for f in "${FILES[@]}"; do
    [[ $f != "$skip" ]] || continue
    if [[ $f == "$short" ]]; then
      truncate -s $((SIZE - 1)) -- "$dir/$f"
    else
      truncate -s "$SIZE" -- "$dir/$f"
    fi
  done
  printf '%s\n' airplane automobile bird cat deer dog frog horse ship truck \
    >"$dir/batches.meta.txt"
}

# make_archive OUT [SKIP_FILE [SHORT_FILE]]
make_archive() {
  local tree
  tree=$(mktemp -d -- "$work/tree.XXXXXX")
  make_tree "$tree" "${2:-}" "${3:-}"
  tar -cSzf "$1" -C "$tree" "$NAME"
  rm -rf -- "$tree"
}

echo "test_get_cifar10: testing $script"
echo "building fake archives in $work"
arc=$work/archives
mkdir -p -- "$arc"
make_archive "$arc/good.tar.gz"
make_archive "$arc/missing.tar.gz" test_batch.bin
make_archive "$arc/short.tar.gz" "" data_batch_3.bin
good_size=$(stat -c %s -- "$arc/good.tar.gz")
head -c $((good_size / 2)) -- "$arc/good.tar.gz" >"$arc/truncated.tar.gz"
echo "this is not an archive" >"$arc/garbage.tar.gz"
wrongtop=$(mktemp -d -- "$work/tree.XXXXXX")
make_tree "$wrongtop"
mv -- "$wrongtop/$NAME" "$wrongtop/cifar-10-batches-py"
tar -cSzf "$arc/wrongtop.tar.gz" -C "$wrongtop" cifar-10-batches-py
rm -rf -- "$wrongtop"
good_sha=$(sha256 "$arc/good.tar.gz")
good_url=file://$arc/good.tar.gz

echo "download with the right SHA-256"
d=$work/d1
run_get "$d" RUNNER_CIFAR_URL="$good_url" RUNNER_CIFAR_SHA256="$good_sha"
check "exits 0" exit_ok
check "says the checksum is OK" output_has "checksum OK"
check "six files of $SIZE bytes in place" complete "$d/$NAME"
check "batches.meta.txt extracted too" test -f "$d/$NAME/batches.meta.txt"
check "no temporary files left" only_target "$d"

echo "second run"
run_get "$d" RUNNER_CIFAR_URL="file://$work/does-not-exist.tar.gz"
check "exits 0 without downloading" exit_ok
check "says already present" output_has "already present"
check "data still in place" complete "$d/$NAME"

echo "download with the right MD5 (upper case), default DEST_DIR"
mkdir -p -- "$work/cwd"
good_md5=$(md5 "$arc/good.tar.gz")
rc=0
(cd -- "$work/cwd" &&
  RUNNER_CIFAR_URL=$good_url RUNNER_CIFAR_MD5=${good_md5^^} bash "$script") \
  >"$work/out" 2>&1 || rc=$?
check "exits 0" exit_ok
check "says md5" output_has "md5 checksum OK"
check "data in ./data/$NAME" complete "$work/cwd/data/$NAME"
check "no temporary files left" only_target "$work/cwd/data"

echo "wrong SHA-256"
d=$work/d2
bad_sha=0000000000000000000000000000000000000000000000000000000000000000
run_get "$d" RUNNER_CIFAR_URL="$good_url" RUNNER_CIFAR_SHA256="$bad_sha"
check "exits non-zero" exit_failed
check "message mentions the checksum" output_has "checksum mismatch"
check "message names the expected value" output_has "$bad_sha"
check "message names the actual value" output_has "$good_sha"
check "no data and no temporary files left" empty "$d"

echo "no checksum given: the official MD5 is expected"
d=$work/d3
run_get "$d" RUNNER_CIFAR_URL="$good_url"
check "exits non-zero" exit_failed
check "message names the official MD5" output_has c32a1d4ab5d03f1284b67883e8d87530
check "no data and no temporary files left" empty "$d"

echo "truncated download (checked against the full archive's SHA-256)"
d=$work/d4
run_get "$d" RUNNER_CIFAR_URL="file://$arc/truncated.tar.gz" \
  RUNNER_CIFAR_SHA256="$good_sha"
check "exits non-zero" exit_failed
check "message mentions the checksum" output_has "checksum mismatch"
check "no data and no temporary files left" empty "$d"

echo "truncated archive with a matching checksum"
d=$work/d5
run_get "$d" RUNNER_CIFAR_URL="file://$arc/truncated.tar.gz" \
  RUNNER_CIFAR_SHA256="$(sha256 "$arc/truncated.tar.gz")"
check "exits non-zero" exit_failed
check "message says it cannot extract" output_has "cannot extract"
check "no data and no temporary files left" empty "$d"

echo "not an archive, with a matching checksum"
d=$work/d6
run_get "$d" RUNNER_CIFAR_URL="file://$arc/garbage.tar.gz" \
  RUNNER_CIFAR_SHA256="$(sha256 "$arc/garbage.tar.gz")"
check "exits non-zero" exit_failed
check "no data and no temporary files left" empty "$d"

echo "valid archive missing test_batch.bin"
d=$work/d7
run_get "$d" RUNNER_CIFAR_URL="file://$arc/missing.tar.gz" \
  RUNNER_CIFAR_SHA256="$(sha256 "$arc/missing.tar.gz")"
check "exits non-zero" exit_failed
check "message names the missing file" output_has "test_batch.bin is missing"
check "no data and no temporary files left" empty "$d"

echo "valid archive with a file one byte short"
d=$work/d8
run_get "$d" RUNNER_CIFAR_URL="file://$arc/short.tar.gz" \
  RUNNER_CIFAR_SHA256="$(sha256 "$arc/short.tar.gz")"
check "exits non-zero" exit_failed
check "message names the short file" output_has "data_batch_3.bin has $((SIZE - 1)) bytes"
check "no data and no temporary files left" empty "$d"

echo "valid archive without a $NAME/ directory"
d=$work/d9
run_get "$d" RUNNER_CIFAR_URL="file://$arc/wrongtop.tar.gz" \
  RUNNER_CIFAR_SHA256="$(sha256 "$arc/wrongtop.tar.gz")"
check "exits non-zero" exit_failed
check "message names the directory" output_has "no $NAME/ directory"
check "no data and no temporary files left" empty "$d"

echo "download that fails (no such file)"
d=$work/d10
run_get "$d" RUNNER_CIFAR_URL="file://$work/does-not-exist.tar.gz" \
  RUNNER_CIFAR_SHA256="$good_sha"
check "exits non-zero" exit_failed
check "message says the download failed" output_has "download of"
check "no data and no temporary files left" empty "$d"

echo "incomplete $NAME already there is replaced"
d=$work/d11
make_tree "$d" "" test_batch.bin
run_get "$d" RUNNER_CIFAR_URL="$good_url" RUNNER_CIFAR_SHA256="$good_sha"
check "exits 0" exit_ok
check "says it replaces it" output_has "replacing incomplete"
check "six files of $SIZE bytes in place" complete "$d/$NAME"
check "no temporary files left" only_target "$d"

echo "incomplete $NAME stays as it was when the download fails"
d=$work/d12
make_tree "$d" "" test_batch.bin
run_get "$d" RUNNER_CIFAR_URL="$good_url" RUNNER_CIFAR_SHA256="$bad_sha"
check "exits non-zero" exit_failed
check "old directory kept, nothing else" only_target "$d"
check "old short file untouched" \
  test "$(stat -c %s -- "$d/$NAME/test_batch.bin")" -eq $((SIZE - 1))

echo "RUNNER_CIFAR_DIR pointing at a good directory (relative path)"
make_tree "$work/local"
d=$work/d13
rc=0
(cd -- "$work" && RUNNER_CIFAR_DIR=local/$NAME bash "$script" "$d") \
  >"$work/out" 2>&1 || rc=$?
check "exits 0" exit_ok
check "$NAME is a symlink" test -L "$d/$NAME"
check "the symlink is absolute, to the directory" \
  test "$(readlink -- "$d/$NAME")" = "$(cd -- "$work/local/$NAME" && pwd -P)"
check "six files of $SIZE bytes reachable" complete "$d/$NAME"
check "no temporary files left" only_target "$d"
run_get "$d" RUNNER_CIFAR_DIR="$work/local/$NAME"
check "second run says already present" output_has "already present"

echo "RUNNER_CIFAR_DIR pointing at a directory with a wrong-size file"
make_tree "$work/bad" "" data_batch_5.bin
d=$work/d14
run_get "$d" RUNNER_CIFAR_DIR="$work/bad/$NAME"
check "exits non-zero" exit_failed
check "message names the wrong-size file" output_has "data_batch_5.bin has"
check "no symlink and no temporary files left" empty "$d"

echo "RUNNER_CIFAR_DIR pointing at a missing directory"
d=$work/d15
run_get "$d" RUNNER_CIFAR_DIR="$work/nowhere"
check "exits non-zero" exit_failed
check "message names RUNNER_CIFAR_DIR" output_has "RUNNER_CIFAR_DIR"
check "nothing left" empty "$d"

echo "interrupted download (SIGTERM to the process group)"
if command -v setsid >/dev/null 2>&1; then
  # A fake curl that writes part of the file, then hangs.
  mkdir -p -- "$work/bin"
  cat >"$work/bin/curl" <<'EOF'
#!/usr/bin/env bash
out=
while (($# > 0)); do
  if [[ $1 == --output || $1 == -o ]] && (($# > 1)); then
    out=$2
    shift
  fi
  shift
done
[[ -z $out ]] || printf 'partial download' >"$out"
: >"$FAKE_CURL_STARTED"
exec sleep 30
EOF
  chmod +x -- "$work/bin/curl"
  d=$work/d16
  started=$work/curl-started
  PATH=$work/bin:$PATH FAKE_CURL_STARTED=$started RUNNER_CIFAR_URL=$good_url \
    setsid bash "$script" "$d" >"$work/out" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    [[ ! -e $started ]] || break
    sleep 0.05
  done
  check "fake curl started" test -e "$started"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM -- "$pid" 2>/dev/null || true
  rc=0
  wait "$pid" || rc=$?
  check "exits non-zero" exit_failed
  check "no partial download left" empty "$d"
else
  echo "  skip (setsid not found)"
fi

echo "test_get_cifar10: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
