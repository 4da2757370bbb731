#!/usr/bin/env bash
# Fails when cdw_backup.so needs a symbol of its own that no object defines:
# PostgreSQL resolves undefined symbols only when it loads the library, so
# without this check such a mistake shows up as a server that cannot start.
set -euo pipefail
library=$1
missing=$(nm -D --undefined-only "$library" | awk '{print $2}' | c++filt | grep -E '^cdw::|cdw_' || true)
if [[ -n "$missing" ]]; then
  echo "cdw_backup.so references undefined symbols of its own:"; echo "$missing"; exit 1
fi
echo "$library: no undefined cdw symbols"
