#!/usr/bin/env bash
# install-deps.sh [EXTRA_PACKAGE...]
#
# Makes sure the Debian packages needed to build and test runner are
# installed: a C toolchain, CMake, pkg-config, the libyaml, cJSON and SQLite
# development files, the sqlite3 shell, and curl + ca-certificates for
# scripts/get-cifar10.sh. Extra package names given as arguments are checked
# and installed too (e.g. `install-deps.sh python3-numpy`); scripts/test.sh
# adds python3-numpy, and clang + libclang-rt-14-dev for the libFuzzer
# targets (scripts/fuzz.sh), and valgrind only if LeakSanitizer does not work.
#
# It first asks dpkg which packages are missing, so it is quick and does not
# touch the network when everything is already there. When something is
# missing it runs `apt-get update` once and `apt-get install` for just those
# packages (this needs root). Run as a normal user with something missing, it
# prints the command to run and exits 1.
#
# Environment: none of its own (DEBIAN_FRONTEND is set to noninteractive for
# apt-get).
set -euo pipefail

prog=install-deps

packages=(
  build-essential
  gcc
  cmake
  pkg-config
  libyaml-dev
  libcjson-dev
  libsqlite3-dev
  sqlite3
  curl
  ca-certificates
  "$@"
)

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "$prog: error: dpkg-query not found; this script supports Debian/Ubuntu only" >&2
  exit 1
fi

# A package counts as present when dpkg reports it fully installed. One
# dpkg-query call for all of them; it fails (and is quiet) for unknown ones.
declare -A installed=()
while read -r name status; do
  [[ $status != installed ]] || installed[${name%%:*}]=1
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${packages[@]}" \
  2>/dev/null || true)
missing=()
for pkg in "${packages[@]}"; do
  [[ -n ${installed[${pkg%%:*}]:-} ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  echo "$prog: all ${#packages[@]} required packages are installed"
  exit 0
fi

echo "$prog: missing packages: ${missing[*]}"

if [[ $(id -u) -ne 0 ]]; then
  echo "$prog: error: not running as root; install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -qq; then
  echo "$prog: error: apt-get update failed" >&2
  exit 1
fi
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
  echo "$prog: error: apt-get install failed for: ${missing[*]}" >&2
  exit 1
fi
echo "$prog: installed: ${missing[*]}"
