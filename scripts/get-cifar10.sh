#!/usr/bin/env bash
# get-cifar10.sh [DEST_DIR]
#
# Puts the CIFAR-10 binary version in DEST_DIR/cifar-10-batches-bin
# (DEST_DIR defaults to ./data): data_batch_1.bin .. data_batch_5.bin and
# test_batch.bin, each exactly 30730000 bytes (10000 records of 1 label byte +
# 3072 pixel bytes).
#
#   1. If those six files are already there with the right sizes, it does
#      nothing and says "already present".
#   2. Else, if RUNNER_CIFAR_DIR is set, that directory must hold the six files
#      with the right sizes; DEST_DIR/cifar-10-batches-bin becomes a symlink to
#      its absolute path. Nothing is downloaded.
#   3. Else it downloads the archive with curl into a temporary file in
#      DEST_DIR, checks its checksum, extracts it into a temporary directory in
#      DEST_DIR, checks the six files, and renames the directory into place.
#      On any failure or interruption the temporary file and directory are
#      removed, so no partial data is ever left behind.
#
# An existing but incomplete DEST_DIR/cifar-10-batches-bin (wrong sizes,
# missing files, dangling symlink) is replaced once the new data has been
# checked.
#
# Environment:
#   RUNNER_CIFAR_DIR     use this existing directory instead of downloading
#   RUNNER_CIFAR_URL     archive to download (https://, http:// or file://);
#                        default: the official cifar-10-binary.tar.gz
#   RUNNER_CIFAR_SHA256  expected SHA-256 of the archive (takes precedence)
#   RUNNER_CIFAR_MD5     expected MD5 of the archive, used when
#                        RUNNER_CIFAR_SHA256 is unset; when both are unset the
#                        MD5 published for the official archive is used
set -euo pipefail

prog=get-cifar10

readonly NAME=cifar-10-batches-bin
readonly FILES=(data_batch_1.bin data_batch_2.bin data_batch_3.bin
                data_batch_4.bin data_batch_5.bin test_batch.bin)
readonly FILE_SIZE=30730000
readonly OFFICIAL_URL=https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
readonly OFFICIAL_MD5=c32a1d4ab5d03f1284b67883e8d87530

die() {
  echo "$prog: error: $*" >&2
  exit 1
}

usage() {
  echo "usage: $0 [DEST_DIR]   (default DEST_DIR: data)"
}

case ${1:-} in
  -h | --help)
    usage
    exit 0
    ;;
  -*)
    usage >&2
    exit 2
    ;;
esac
(($# <= 1)) || { usage >&2; exit 2; }

dest=${1:-data}
target=$dest/$NAME

# check_dir DIR: succeeds when DIR holds the six files with the right size;
# otherwise sets $problem to a description of the first thing wrong.
problem=
check_dir() {
  local dir=$1 f size
  if [[ ! -d $dir ]]; then
    problem="$dir is not a directory"
    return 1
  fi
  for f in "${FILES[@]}"; do
    if [[ ! -f $dir/$f ]]; then
      problem="$dir/$f is missing"
      return 1
    fi
    size=$(stat -L -c %s -- "$dir/$f")
    if [[ $size != "$FILE_SIZE" ]]; then
      problem="$dir/$f has $size bytes, expected $FILE_SIZE"
      return 1
    fi
  done
}

if check_dir "$target"; then
  echo "$prog: CIFAR-10 already present in $target"
  exit 0
fi

mkdir -p -- "$dest" || die "cannot create $dest"

# Temporary paths, all inside $dest so the final rename stays on one file
# system. cleanup() removes whatever of them exists; it runs on every exit.
tmp_file=
tmp_dir=
tmp_link=
old=
cleanup() {
  [[ -z $tmp_file ]] || rm -f -- "$tmp_file"
  [[ -z $tmp_link ]] || rm -f -- "$tmp_link"
  [[ -z $tmp_dir ]] || rm -rf -- "$tmp_dir"
  # $old is only set while a previous, incomplete $target is moved aside;
  # put it back if we stop before the new data is in place.
  if [[ -n $old ]] && [[ -e $old || -L $old ]]; then
    if [[ -e $target || -L $target ]]; then
      rm -rf -- "$old"
    else
      mv -T -- "$old" "$target" || true
    fi
  fi
}
trap cleanup EXIT
trap 'echo "$prog: interrupted" >&2; exit 130' INT
trap 'echo "$prog: terminated" >&2; exit 143' TERM HUP

# install_target NEW: renames NEW (a directory or symlink in $dest) to $target,
# replacing an incomplete $target if there is one.
install_target() {
  local new=$1
  if [[ -e $target || -L $target ]]; then
    if check_dir "$target"; then
      # Another run finished first: keep its data (cleanup drops ours).
      echo "$prog: CIFAR-10 already present in $target"
      exit 0
    fi
    echo "$prog: replacing incomplete $target ($problem)"
    old=$(mktemp -u -- "$dest/.$NAME.old.tmp.XXXXXX")
    mv -T -- "$target" "$old" || die "cannot move $target aside"
  fi
  mv -T -- "$new" "$target" || die "cannot rename $new to $target"
  if [[ -n $old ]]; then
    rm -rf -- "$old"
    old=
  fi
}

# Use an existing copy of the data set.
if [[ -n ${RUNNER_CIFAR_DIR:-} ]]; then
  src=$RUNNER_CIFAR_DIR
  [[ -d $src ]] || die "RUNNER_CIFAR_DIR=$src is not a directory"
  src=$(cd -- "$src" && pwd -P) || die "cannot resolve RUNNER_CIFAR_DIR=$src"
  check_dir "$src" || die "RUNNER_CIFAR_DIR does not hold CIFAR-10: $problem"
  tmp_link=$(mktemp -u -- "$dest/.$NAME.link.tmp.XXXXXX")
  ln -s -- "$src" "$tmp_link" || die "cannot create a symlink in $dest"
  install_target "$tmp_link"
  echo "$prog: $target -> $src"
  exit 0
fi

# Download, verify, extract, verify, rename.
for tool in curl tar gzip sha256sum md5sum; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "$tool not found (run scripts/install-deps.sh)"
done

url=${RUNNER_CIFAR_URL:-$OFFICIAL_URL}
if [[ -n ${RUNNER_CIFAR_SHA256:-} ]]; then
  algo=sha256
  expected=$RUNNER_CIFAR_SHA256
elif [[ -n ${RUNNER_CIFAR_MD5:-} ]]; then
  algo=md5
  expected=$RUNNER_CIFAR_MD5
else
  algo=md5
  expected=$OFFICIAL_MD5
fi
expected=${expected,,}

tmp_file=$(mktemp -- "$dest/.cifar-10-binary.tar.gz.tmp.XXXXXX") ||
  die "cannot create a temporary file in $dest"

echo "$prog: downloading $url"
curl_opts=(--fail --location --show-error --retry 3 --connect-timeout 30)
if [[ -t 2 ]]; then
  curl_opts+=(--progress-bar)
else
  curl_opts+=(--silent)
fi
curl "${curl_opts[@]}" --output "$tmp_file" -- "$url" ||
  die "download of $url failed (curl exit status $?)"

actual=$("${algo}sum" -- "$tmp_file") || die "cannot compute the $algo of the download"
actual=${actual%% *}
if [[ $actual != "$expected" ]]; then
  die "checksum mismatch for $url: expected $algo $expected, got $actual"
fi
echo "$prog: $algo checksum OK"

tmp_dir=$(mktemp -d -- "$dest/.$NAME.extract.tmp.XXXXXX") ||
  die "cannot create a temporary directory in $dest"
echo "$prog: extracting"
tar -xzf "$tmp_file" -C "$tmp_dir" --no-same-owner ||
  die "cannot extract $url (damaged or not a .tar.gz archive)"
rm -f -- "$tmp_file"
tmp_file=

[[ -d $tmp_dir/$NAME ]] || die "the archive has no $NAME/ directory"
check_dir "$tmp_dir/$NAME" ||
  die "the archive does not hold CIFAR-10: ${problem#"$tmp_dir/"}"

install_target "$tmp_dir/$NAME"
echo "$prog: CIFAR-10 is in $target"
