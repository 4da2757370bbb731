#!/usr/bin/env bash
# Configures, builds and installs cdw_backup into the PostgreSQL that pg_config names.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo ${PG_CONFIG:+-DPG_CONFIG=$PG_CONFIG} >/dev/null
cmake --build build -j"$(nproc)"
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
$SUDO cmake --install build >/dev/null
