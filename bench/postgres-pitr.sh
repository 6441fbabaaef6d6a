#!/usr/bin/env bash
# Point-in-time restore of a postgres cluster of about SCALE_GB GB (pgbench
# data) on the local provider, measured three ways:
#   - RPO: under a steady pgbench write load, the age of the newest
#     restorable point (cluster show's pitr.to), sampled every half second;
#   - restore time: Strata's restore to an LSN against the same recovery done
#     by hand on the same machine (copy the snapshot's data directory, write
#     backup_label and the recovery settings, start the server, wait until it
#     is promoted);
#   - WAL replay rate: the WAL between the backup's end and the target over
#     the replay time, Strata's (its ReplayingWAL step, from the worker's log)
#     against PostgreSQL's own recovery by hand.
#
#   bash bench/postgres-pitr.sh [SCALE_GB] [LOAD_SECONDS]    (defaults 1, 60)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

gb=${1:-1}
load=${2:-60}
bench_name=pitr
# shellcheck source=bench/devworker.sh
source bench/devworker.sh
hand=$work/hand
extra_pgdata=("$hand/pgdata")
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

starter cluster create --engine postgres --id bench-pg --nodes 1 >/dev/null
uri=$(starter cluster connect bench-pg)
PGOPTIONS='-c synchronous_commit=off' "$bin/pgbench" -q -i -s $((gb * 68)) "$uri" >/dev/null 2>&1
size=$("$bin/psql" "$uri" -Atc "SELECT pg_size_pretty(pg_database_size('postgres'))")
backup=$(starter backup create --cluster bench-pg --wait --json | json 'd["id"]')

# RPO under load.
"$bin/pgbench" -n -c 4 -T "$load" "$uri" >"$work/pgbench.log" 2>&1 &
load_pid=$!
samples=$work/rpo
: >"$samples"
while kill -0 "$load_pid" 2>/dev/null; do
	starter cluster show bench-pg --json | python3 -c '
import json, sys, datetime
d = json.load(sys.stdin)
p = d.get("pitr")
if p:
    to = datetime.datetime.fromisoformat(p["to"].replace("Z", "+00:00"))
    print((datetime.datetime.now(datetime.timezone.utc) - to).total_seconds())' >>"$samples" || true
	sleep 0.5
done
wait "$load_pid" || true
tps=$(grep -Eo 'tps = [0-9.]+' "$work/pgbench.log" | head -1 | cut -d' ' -f3)

target=$("$bin/psql" "$uri" -Atc "SELECT pg_current_wal_lsn()")
"$bin/psql" "$uri" -Atc "SELECT pg_switch_wal()" >/dev/null
stop=$(starter backup show "$backup" --json | json 'd["database"]["stopLsn"]')
for _ in $(seq 1 120); do
	to=$(starter cluster show bench-pg --json | json 'd.get("pitr", {}).get("toLsn", "0/0")')
	[[ $("$bin/psql" "$uri" -Atc "SELECT '$to'::pg_lsn > '$target'::pg_lsn") == t ]] && break
	sleep 0.5
done
wal=$("$bin/psql" "$uri" -Atc "SELECT '$target'::pg_lsn - '$stop'::pg_lsn")

# Strata's restore.
t0=$(date +%s.%N)
restored=$(starter restore --backup "$backup" --to-lsn "$target" --nodes 1 --wait --json | json 'd["cluster"]["id"]')
t1=$(date +%s.%N)
ts() { python3 -c "import datetime,sys; print(datetime.datetime.fromisoformat(sys.argv[1].replace('Z','+00:00')).timestamp())" "$1"; }
# The worker logs in console form: the time is the first field.
prepared=$(grep -P '\trecovery prepared\t' "$work/worker.log" | grep "\"$restored\"" | tail -1 | cut -f1)
promoted=$(grep -P '\tpromoted\t' "$work/worker.log" | grep "\"$restored\"" | tail -1 | cut -f1)
strata_replay=$(echo "$(ts "$promoted") - $(ts "$prepared")" | bc -l)

# The same recovery by hand.
snap=$(starter backup show "$backup" --json | json 'd["snapshots"][0]["snapshotId"]')
label=$(starter backup show "$backup" --json | json 'd["database"]["backupLabel"]')
archive=$work/data/.strata/wal/bench-pg
port=$(free_port)
mkdir -p "$hand"
chown postgres: "$hand" 2>/dev/null || true
t2=$(date +%s.%N)
cp -a "$work/data/.strata/local/snapshots/$snap/data/pgdata" "$hand/pgdata"
sync -f "$hand/pgdata"
rm -f "$hand/pgdata"/{postmaster.pid,postmaster.opts,standby.signal}
rm -rf "$hand/pgdata/pg_wal"/0* "$hand/pgdata/pg_wal/archive_status"/*
printf '%s' "$label" >"$hand/pgdata/backup_label"
touch "$hand/pgdata/recovery.signal"
cat >>"$hand/pgdata/postgresql.conf" <<CONF
port = $port
archive_mode = off
restore_command = 'cp "$archive/%f" "%p"'
recovery_target_lsn = '$target'
recovery_target_action = 'promote'
CONF
chown -R postgres: "$hand/pgdata" 2>/dev/null || true
chmod 0700 "$hand/pgdata"
t3=$(date +%s.%N)
"${as_pg[@]}" "$bin/pg_ctl" start -D "$hand/pgdata" -l "$hand/server.log" -W -s
# The restored database's roles are the source's: its superuser password
# is in the source's URI.
pw=$(sed -E 's|.*://[^:]+:([^@]+)@.*|\1|' <<<"$uri")
until PGPASSWORD=$pw "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atc "SELECT NOT pg_is_in_recovery()" 2>/dev/null | grep -q t; do
	sleep 0.05
done
t4=$(date +%s.%N)

python3 - "$samples" <<PY
import statistics, sys
s = [float(x) for x in open(sys.argv[1]) if x.strip()]
strata, hand = $t1 - $t0, $t4 - $t2
replay_s, replay_h = $strata_replay, $t4 - $t3
wal = $wal
print(f"database {'$size'}, pgbench load {$load}s at {'$tps'} tps, WAL replayed {wal/2**20:.0f} MiB")
if s:
    print(f"RPO (age of the newest restorable point): median {statistics.median(s):.1f}s, p95 {sorted(s)[int(len(s)*0.95)-1]:.1f}s, max {max(s):.1f}s over {len(s)} samples")
print(f"restore to an LSN: strata {strata:.2f}s, by hand {hand:.2f}s, ratio {strata/hand:.2f}x")
print(f"WAL replay: strata {replay_s:.2f}s ({wal/2**20/replay_s:.0f} MiB/s, from recovery prepared to promoted), postgres by hand {replay_h:.2f}s ({wal/2**20/replay_h:.0f} MiB/s), ratio {replay_s/replay_h:.2f}x")
PY
