#!/usr/bin/env bash
# The main job on a throwaway cluster: installs dependencies, builds and
# installs cdw_backup, starts a temporary PostgreSQL 15 with the library
# preloaded, creates a few databases, backs the whole cluster up to a local
# directory with SELECT cdw_backup_run(), and shows the history and files.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh

bindir=$(pg_config --bindir)
demo=${CDW_DEMO_DIR:-/tmp/cdw_backup_demo}
port=${CDW_DEMO_PORT:-54329}
run=()
[[ $(id -u) -eq 0 ]] && run=(runuser -u postgres --)

if [[ -f "$demo/data/postmaster.pid" ]]; then "${run[@]}" "$bindir/pg_ctl" -D "$demo/data" stop -m immediate >/dev/null || true; fi
rm -rf "$demo"
mkdir -p "$demo/backups"
[[ $(id -u) -eq 0 ]] && chown -R postgres: "$demo"

"${run[@]}" "$bindir/initdb" -D "$demo/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
cat >>"$demo/data/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$demo'
shared_preload_libraries = 'cdw_backup'
max_worker_processes = 16
CONF
"${run[@]}" "$bindir/pg_ctl" -D "$demo/data" -l "$demo/server.log" -w start >/dev/null
psql() { "${run[@]}" "$bindir/psql" -h "$demo" -p "$port" -U postgres -X -v ON_ERROR_STOP=1 "$@"; }

echo "== a small cluster: databases sales and \"hr dept\""
psql -q -d postgres -c "CREATE DATABASE sales" -c "CREATE DATABASE \"hr dept\""
psql -q -d sales <<'SQL'
CREATE TABLE orders (id bigint PRIMARY KEY, ordered_at timestamptz, amount numeric(12,2), note text);
INSERT INTO orders SELECT g, now() - g * interval '1 minute', g * 1.5, 'order, "quoted" ' || g
  FROM generate_series(1, 100000) g;
CREATE TABLE events (id bigint, payload jsonb) PARTITION BY RANGE (id);
CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (0) TO (1000);
CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM (1000) TO (2000);
INSERT INTO events SELECT g, jsonb_build_object('n', g) FROM generate_series(0, 1999) g;
SQL
psql -q -d "hr dept" -c "CREATE TABLE \"Staff List\" (name text, started date)" \
  -c "INSERT INTO \"Staff List\" VALUES ('Ada', '2020-01-01'), ('Grace', NULL)"

echo "== back up every table of every database"
psql -q -d postgres -c "CREATE EXTENSION cdw_backup" \
  -c "SELECT cdw_backup_add_target('default', 'file://$demo/backups')"
psql -d postgres -c "SELECT cdw_backup_run(wait => true) AS run_id"
psql -d postgres -c "SELECT run_id, status, tables_total, tables_succeeded, rows, bytes_raw, bytes_stored, location FROM cdw_backup.runs"
psql -d postgres -c "SELECT database, schema_name, table_name, status, rows, bytes_stored FROM cdw_backup.run_tables ORDER BY 1, 2, 3"

echo "== the files written"
find "$demo/backups" -type f | sort
echo "== one part, read with gzip alone"
gzip -dc "$(find "$demo/backups" -path '*Staff*' -name 'part-*' | head -1)"

echo "== verify the backup, then drop a table and restore it"
psql -d postgres -c "SELECT database, schema_name, table_name, status FROM cdw_backup_verify(1)"
psql -q -d "hr dept" -c "DROP TABLE \"Staff List\""
psql -d postgres -c "SELECT schema_name, table_name, status, rows FROM cdw_backup_restore(1, 'hr dept', 'public.\"Staff List\"')"
psql -d "hr dept" -c "SELECT * FROM \"Staff List\""

"${run[@]}" "$bindir/pg_ctl" -D "$demo/data" stop >/dev/null
echo "== done: the cluster is stopped; backups stay in $demo/backups"
