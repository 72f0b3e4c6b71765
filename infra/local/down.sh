#!/usr/bin/env bash
# Stops what up.sh started. Data stays under $TP_LOCAL_DIR (remove it to start afresh).
source "$(dirname "$0")/lib.sh"
here="$(dirname "$0")"
bash "$here/clickhouse.sh" stop
bash "$here/nats.sh" stop
bash "$here/postgres.sh" stop
