#!/usr/bin/env bash
# Installs (if missing) and starts PostgreSQL, NATS (JetStream) and ClickHouse on loopback. Idempotent.
# Writes $TP_LOCAL_DIR/env with the addresses, for tests (TP_TEST_*) and for a local cluster (TP_*).
source "$(dirname "$0")/lib.sh"
here="$(dirname "$0")"
bash "$here/install.sh"
mkdir -p "$TP_LOCAL_DIR"
bash "$here/postgres.sh" start &
p1=$!
bash "$here/nats.sh" start &
p2=$!
bash "$here/clickhouse.sh" start &
p3=$!
fail=0
for p in $p1 $p2 $p3; do wait "$p" || fail=1; done
[ "$fail" -eq 0 ] || { log "some servers failed to start; logs under $TP_LOCAL_DIR"; exit 1; }
cat >"$TP_LOCAL_DIR/env" <<ENV
TP_TEST_PG_URL=postgres://postgres@127.0.0.1:$TP_PG_PORT/postgres
TP_TEST_NATS_URL=nats://127.0.0.1:$TP_NATS_PORT
TP_TEST_CLICKHOUSE_URL=http://127.0.0.1:$TP_CH_HTTP_PORT
TP_PG_URL=postgres://postgres@127.0.0.1:$TP_PG_PORT/turnpike
TP_NATS_URL=nats://127.0.0.1:$TP_NATS_PORT
TP_CLICKHOUSE_URL=http://127.0.0.1:$TP_CH_HTTP_PORT
ENV
log "ready; addresses in $TP_LOCAL_DIR/env"
