#!/usr/bin/env bash
# start|stop PostgreSQL on 127.0.0.1:$TP_PG_PORT with data in $TP_LOCAL_DIR/pg (trust auth, loopback only).
source "$(dirname "$0")/lib.sh"
dir="$TP_LOCAL_DIR/pg"
# As root, PostgreSQL runs as `postgres`, which must reach the data dir. A checkout under a 0700 directory
# (a home, a mktemp dir) is closed to it: keep the data under /var/tmp instead, keyed by the local dir.
if [ "$(id -u)" -eq 0 ]; then
  mkdir -p "$TP_LOCAL_DIR"
  if ! runuser -u postgres -- test -x "$TP_LOCAL_DIR"; then
    dir="/var/tmp/turnpike-pg-$(printf '%s' "$TP_LOCAL_DIR" | sha256sum | cut -c1-16)"
  fi
fi
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "${1:-start}" in
  start)
    if port_open "$TP_PG_PORT"; then exit 0; fi
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale >/dev/null
    fi
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
      -o "-p $TP_PG_PORT -k $dir -c listen_addresses=127.0.0.1 -c max_connections=500 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null
    wait_port "$TP_PG_PORT" postgres 30
    log "postgres on 127.0.0.1:$TP_PG_PORT"
    ;;
  stop)
    if [ -f "$dir/data/postmaster.pid" ]; then as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true; log "stopped postgres"; fi
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
