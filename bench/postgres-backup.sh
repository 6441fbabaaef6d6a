#!/usr/bin/env bash
# The backup of a postgres cluster of about SCALE_GB GB (pgbench data) by
# Strata (an online backup in backup mode on the local provider) against a
# plain pg_basebackup of the same server on the same machine.
#
#   bash bench/postgres-backup.sh [SCALE_GB]     (default 1)
#
# It builds the worker and the CLI, runs a dev worker in a temporary data
# directory, and removes both (and stops the servers) when it ends.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

gb=${1:-1}
bench_name=pgbench
# shellcheck source=bench/devworker.sh
source bench/devworker.sh

starter cluster create --engine postgres --id bench-pg --nodes 1 >/dev/null
uri=$(starter cluster connect bench-pg)
# pgbench: scale 68 is about 1 GB.
scale=$((gb * 68))
PGOPTIONS='-c synchronous_commit=off' "$bin/pgbench" -q -i -s "$scale" "$uri" >/dev/null 2>&1
size=$("$bin/psql" "$uri" -Atc "SELECT pg_size_pretty(pg_database_size('postgres'))")

t0=$(date +%s.%N)
starter backup create --cluster bench-pg --wait >/dev/null
t1=$(date +%s.%N)

target=$work/basebackup
mkdir -p "$target"
chown postgres: "$target" 2>/dev/null || true
pw=$(sed -E 's|.*://[^:]+:([^@]+)@.*|\1|' <<<"$uri")
port=$(sed -E 's|.*@127\.0\.0\.1:([0-9]+)/.*|\1|' <<<"$uri")
t2=$(date +%s.%N)
PGPASSWORD=$pw "${as_pg[@]}" env PGPASSWORD="$pw" "$bin/pg_basebackup" -h 127.0.0.1 -p "$port" -U postgres -D "$target/b" -X stream -c fast
t3=$(date +%s.%N)

strata=$(echo "$t1 - $t0" | bc)
base=$(echo "$t3 - $t2" | bc)
printf 'database %s\nstrata backup (backup mode + local snapshot): %.2fs\npg_basebackup -X stream -c fast (fsync on, as the local provider): %.2fs\nratio: %.2fx\n' \
	"$size" "$strata" "$base" "$(echo "$strata / $base" | bc -l)"
