#!/usr/bin/env bash
# Installs what runbox needs from Debian (by package name) and builds build/runbox.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh run
make -j"$(nproc)"
