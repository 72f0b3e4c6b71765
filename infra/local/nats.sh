#!/usr/bin/env bash
# start|stop nats-server with JetStream on 127.0.0.1:$TP_NATS_PORT, store in $TP_LOCAL_DIR/nats.
source "$(dirname "$0")/lib.sh"
dir="$TP_LOCAL_DIR/nats"
case "${1:-start}" in
  start)
    if port_open "$TP_NATS_PORT"; then exit 0; fi
    mkdir -p "$dir"
    setsid nats-server -js -sd "$dir/store" -a 127.0.0.1 -p "$TP_NATS_PORT" -m "$TP_NATS_MONITOR_PORT" \
      -P "$dir/nats.pid" -l "$dir/nats.log" </dev/null >/dev/null 2>&1 &
    wait_port "$TP_NATS_PORT" nats-server 30
    log "nats on 127.0.0.1:$TP_NATS_PORT (JetStream)"
    ;;
  stop) stop_pidfile "$dir/nats.pid" nats-server ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
