# Shared settings for infra/local scripts. Sourced, not run.
# Everything lives under $TP_LOCAL_DIR (default <repo>/.work/local) and listens on loopback only.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TP_LOCAL_DIR="${TP_LOCAL_DIR:-$REPO_ROOT/.work/local}"
TP_PG_PORT="${TP_PG_PORT:-55432}"
TP_NATS_PORT="${TP_NATS_PORT:-54222}"
TP_NATS_MONITOR_PORT="${TP_NATS_MONITOR_PORT:-58222}"
TP_CH_HTTP_PORT="${TP_CH_HTTP_PORT:-58123}"
TP_CH_TCP_PORT="${TP_CH_TCP_PORT:-59000}"
TP_CH_INTERSERVER_PORT="${TP_CH_INTERSERVER_PORT:-59009}"
PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}"

log() { printf '[infra/local] %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && exec 3>&- 3<&- ; }

wait_port() { # port what seconds
  local i=0 max=$(( ${3:-30} * 10 ))
  until port_open "$1"; do
    i=$((i + 1))
    if [ "$i" -ge "$max" ]; then log "$2 did not open port $1 within ${3:-30}s"; return 1; fi
    sleep 0.1
  done
}

# Kills the process recorded in a pid file, if it is alive, and waits for it.
stop_pidfile() { # file what
  [ -f "$1" ] || return 0
  local pid; pid="$(cat "$1")"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    log "stopped $2 (pid $pid)"
  fi
  rm -f "$1"
}
