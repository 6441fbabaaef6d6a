# Sourced by the PostgreSQL bench scripts: builds the worker and the CLI
# into a temporary directory $work, runs a dev worker there (no demos, no
# UI, a free Temporal port), and defines `starter`, `free_port`, `$bin` (the
# PostgreSQL binaries) and `as_pg` (runs a command as the server user when
# root). On exit it stops the worker and every server under $work (and the
# data directories in $extra_pgdata) and removes $work.
bin=$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
work=$(mktemp -d "/tmp/strata-${bench_name:-bench}-XXXXXX")
chmod 0711 "$work"
as_pg=()
if [[ $(id -u) == 0 ]]; then as_pg=(runuser -u postgres --); fi
extra_pgdata=()

go build -o "$work/worker" ./worker
go build -o "$work/starter" ./starter

cleanup() {
	kill "$worker_pid" 2>/dev/null || true
	wait "$worker_pid" 2>/dev/null || true
	for d in "$work"/data/.strata/local/volumes/*/pgdata "${extra_pgdata[@]}"; do
		[[ -d $d ]] && "${as_pg[@]}" "$bin/pg_ctl" stop -D "$d" -m immediate -s >/dev/null 2>&1 || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/data"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
(cd "$work/data" && exec "$work/worker" --dev --demo-postgres=false --temporal-port "$(free_port)" --ui-port -1 \
	--codec-server-listen "" --metrics-listen "127.0.0.1:$(free_port)" >"$work/worker.log" 2>&1) &
worker_pid=$!
starter() { (cd "$work/data" && "$work/starter" "$@"); }
for _ in $(seq 1 120); do
	[[ -f $work/data/.strata/dev.json ]] && break
	sleep 1
done
