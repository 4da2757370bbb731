#!/usr/bin/env bash
# The test command: installs test dependencies, builds, installs, checks
# formatting and runs every test (GoogleTest, pg_regress, integration) with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
scripts/build.sh
scripts/check-format.sh
cd build
ctest --output-on-failure -j2 --timeout 900 "$@"
