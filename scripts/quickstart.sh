#!/usr/bin/env bash
# quickstart.sh [RUNNER_ARG...]
#
# Sets everything up and runs the augmented-CIFAR-10 experiment, from any
# working directory:
#   1. scripts/install-deps.sh (installs missing Debian packages; needs root
#      only when something is missing),
#   2. a Release build in build/ (cmake -DCMAKE_BUILD_TYPE=Release),
#   3. scripts/get-cifar10.sh data (CIFAR-10 into data/cifar-10-batches-bin),
#   4. build/runner experiments/augmented.yaml RUNNER_ARG...
# All paths are relative to the repository root, which it cd's to first.
#
# Environment: the RUNNER_CIFAR_* variables of scripts/get-cifar10.sh
# (e.g. RUNNER_CIFAR_DIR=/path/to/cifar-10-batches-bin to use a copy you
# already have instead of downloading).
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd -- "$root"

step() { printf '\n== quickstart: %s\n' "$*"; }

step "checking dependencies"
./scripts/install-deps.sh

step "building (Release) in build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"

step "getting CIFAR-10 into data/"
./scripts/get-cifar10.sh data

step "running: build/runner experiments/augmented.yaml $*"
exec build/runner experiments/augmented.yaml "$@"
