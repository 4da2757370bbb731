#!/usr/bin/env bash
# Runs the pg_regress suite in a temporary instance. PostgreSQL refuses to run
# as root, so as root the suite runs as the postgres user in a copy of regress/.
# Usage: run-regress.sh PG_REGRESS PG_BINDIR REGRESS_DIR OUTPUT_DIR
set -euo pipefail
pg_regress=$1 bindir=$2 regress_dir=$3 output_dir=$4
work=$(mktemp -d /tmp/cdw_regress.XXXXXX)
cp -r "$regress_dir"/. "$work"/
mkdir -p "$work/backups"
run=()
if [[ $(id -u) -eq 0 ]]; then
  chown -R postgres: "$work"
  run=(runuser -u postgres --)
fi
port=$((50000 + RANDOM % 10000))
status=0
(cd "$work" && "${run[@]}" "$pg_regress" --temp-instance="$work/tmp_check" --temp-config="$work/regress.conf" \
  --bindir="$bindir" --inputdir="$work" --outputdir="$work" --port="$port" \
  --schedule="$work/schedule") || status=$?
rm -rf "$output_dir" && mkdir -p "$output_dir"
cp -r "$work/results" "$work"/regression.* "$work/log" "$output_dir"/ 2>/dev/null || true
if [[ $status -ne 0 && -f "$work/regression.diffs" ]]; then cat "$work/regression.diffs"; fi
rm -rf "$work"
exit $status
