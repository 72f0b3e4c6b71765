#!/bin/sh
# One-shot (compose service `nats-init`, image natsio/nats-box): creates Turnpike's JetStream KV buckets and
# the call-log stream with 3 replicas. Turnpike creates any of them that is missing with one replica (R1:
# lost with the server that holds it) and uses an existing one as it is, so creating them here first is
# what makes them survive one NATS server. Idempotent: what exists is left alone.
set -eu
S="${NATS_URL:-nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222}"
C="${TURNPIKE_CLUSTER:-default}"
R="${TURNPIKE_NATS_REPLICAS:-3}"

kv() {
  if nats -s "$S" kv info "$1" >/dev/null 2>&1; then echo "bucket $1 exists"; return; fi
  nats -s "$S" kv add "$1" --history 1 --replicas "$R"
}

# Config (control plane → nodes) and quota usage buckets: the names @turnpike/common gives them.
kv "turnpike_config_$C"
kv "turnpike_quota_$C"

# Call logs (nodes → ingester): the settings of callsStreamConfig() in services/common/src/calls-stream.ts.
if nats -s "$S" stream info TURNPIKE_CALLS >/dev/null 2>&1; then
  echo "stream TURNPIKE_CALLS exists"
else
  nats -s "$S" stream add TURNPIKE_CALLS --subjects 'turnpike.calls.>' --storage file --retention limits \
    --discard old --max-age 7d --dupe-window 2m --replicas "$R" --defaults
fi
