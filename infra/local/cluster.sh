#!/usr/bin/env bash
# N gateway nodes behind haproxy on loopback, as plain processes: the topology of the fault tests and of
# load runs through a load balancer. Nodes take their config from NATS (infra/local/up.sh's, cluster
# $TP_CLUSTER): start a control plane against the same NATS to write it, or let nodes serve what the bucket
# holds — a node needs nothing else to bootstrap. haproxy renders infra/lb/haproxy.cfg.tmpl (health checks on
# /readyz, L7 retries).
#
#   bash infra/local/cluster.sh start [N=3]   # nodes on 18001.., status 18101.., haproxy on 18000
#   bash infra/local/cluster.sh stop
#   bash infra/local/cluster.sh status
source "$(dirname "$0")/lib.sh"
DIR="$TP_LOCAL_DIR/cluster"
LB_PORT="${TP_LB_PORT:-18000}"
BASE_PROXY="${TP_CLUSTER_PROXY_BASE:-18001}"
BASE_STATUS="${TP_CLUSTER_STATUS_BASE:-18101}"
CLUSTER="${TP_CLUSTER:-default}"
NATS_URL="${TP_NATS_URL:-nats://127.0.0.1:$TP_NATS_PORT}"
GATEWAY="$REPO_ROOT/services/cli/dist/src/bin.js"

start() {
  local n="${1:-3}" servers="" i
  [ -f "$GATEWAY" ] || { log "not built: run pnpm build first"; exit 1; }
  port_open "$TP_NATS_PORT" || { log "NATS is not running: bash infra/local/up.sh first"; exit 1; }
  mkdir -p "$DIR"
  for ((i = 1; i <= n; i++)); do
    local proxy=$((BASE_PROXY + i - 1)) status=$((BASE_STATUS + i - 1))
    if [ -f "$DIR/node-$i.pid" ] && kill -0 "$(cat "$DIR/node-$i.pid")" 2>/dev/null; then
      log "node-$i already running"
    else
      TP_NATS_URL="$NATS_URL" TP_CLUSTER="$CLUSTER" TP_NODE_ID="local-$i" TP_PROXY_HOST=127.0.0.1 TP_PROXY_PORT="$proxy" \
        TP_STATUS_PORT="$status" TP_HTTPS_PORT=-1 TP_DATA_DIR="$DIR/node-$i" \
        nohup node "$GATEWAY" gateway >"$DIR/node-$i.log" 2>&1 &
      echo $! >"$DIR/node-$i.pid"
    fi
    servers+="    server node-$i 127.0.0.1:$proxy check port $status"$'\n'
  done
  for ((i = 1; i <= n; i++)); do wait_port $((BASE_PROXY + i - 1)) "node-$i" 30; done
  local template="$REPO_ROOT/infra/lb/haproxy.cfg.tmpl"
  awk -v bind="127.0.0.1:$LB_PORT" -v servers="${servers%$'\n'}" '{ gsub(/\{\{BIND\}\}/, bind); if ($0 ~ /\{\{SERVERS\}\}/) print servers; else print }' "$template" >"$DIR/haproxy.cfg"
  stop_pidfile "$DIR/haproxy.pid" haproxy
  nohup /usr/sbin/haproxy -f "$DIR/haproxy.cfg" -db >"$DIR/haproxy.log" 2>&1 &
  echo $! >"$DIR/haproxy.pid"
  wait_port "$LB_PORT" haproxy 10
  echo "$n" >"$DIR/nodes"
  log "$n gateway nodes (proxy $BASE_PROXY.., status $BASE_STATUS..) behind haproxy on http://127.0.0.1:$LB_PORT; logs in $DIR"
}

stop() {
  stop_pidfile "$DIR/haproxy.pid" haproxy
  local f
  for f in "$DIR"/node-*.pid; do [ -e "$f" ] && stop_pidfile "$f" "$(basename "$f" .pid)"; done
  log "cluster stopped"
}

status() {
  local f
  for f in "$DIR"/haproxy.pid "$DIR"/node-*.pid; do
    [ -e "$f" ] || continue
    if kill -0 "$(cat "$f")" 2>/dev/null; then echo "$(basename "$f" .pid): running (pid $(cat "$f"))"; else echo "$(basename "$f" .pid): stopped"; fi
  done
}

case "${1:-}" in
  start) start "${2:-3}" ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start [N] | stop | status" >&2; exit 2 ;;
esac
