#!/usr/bin/env bash
# start|stop clickhouse-server on 127.0.0.1 (HTTP $TP_CH_HTTP_PORT, native $TP_CH_TCP_PORT), data in $TP_LOCAL_DIR/clickhouse.
source "$(dirname "$0")/lib.sh"
dir="$TP_LOCAL_DIR/clickhouse"
# TP_CH_DATA_DIR: where the server keeps its tables (default $dir/data). See docs/operations.md for when a
# tmpfs path is worth it (a file system that makes creating files slow, e.g. ext4 without a journal).
data="${TP_CH_DATA_DIR:-$dir/data}"
case "${1:-start}" in
  start)
    if port_open "$TP_CH_HTTP_PORT"; then exit 0; fi
    mkdir -p "$data/tmp" "$dir/log"
    setsid clickhouse-server --config-file=/etc/clickhouse-server/config.xml -- \
      --path="$data/" --tmp_path="$data/tmp/" --user_files_path="$data/user_files/" \
      --format_schema_path="$data/format_schemas/" \
      --http_port="$TP_CH_HTTP_PORT" --tcp_port="$TP_CH_TCP_PORT" --interserver_http_port="$TP_CH_INTERSERVER_PORT" \
      --listen_host=127.0.0.1 \
      --logger.log="$dir/log/clickhouse.log" --logger.errorlog="$dir/log/clickhouse.err.log" --logger.console=0 \
      </dev/null >"$dir/log/stdout.log" 2>&1 &
    echo $! >"$dir/clickhouse.pid" # setsid does not fork when started in the background, so $! is the server
    wait_port "$TP_CH_HTTP_PORT" clickhouse-server 60
    log "clickhouse on http://127.0.0.1:$TP_CH_HTTP_PORT"
    ;;
  stop) stop_pidfile "$dir/clickhouse.pid" clickhouse-server ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
