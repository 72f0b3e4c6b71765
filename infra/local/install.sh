#!/usr/bin/env bash
# Installs the Debian packages the local cluster, tests and benchmarks need, when any is missing.
source "$(dirname "$0")/lib.sh"
need=()
[ -n "$PG_BIN" ] && [ -x "$PG_BIN/postgres" ] || need+=(postgresql)
command -v nats-server >/dev/null || need+=(nats-server)
command -v clickhouse-server >/dev/null || need+=(clickhouse-server clickhouse-client)
command -v haproxy >/dev/null || need+=(haproxy)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
# the console and portal end-to-end tests drive a real browser (playwright-core with executablePath)
command -v chromium >/dev/null || need+=(chromium fonts-liberation)
if [ "${#need[@]}" -eq 0 ]; then exit 0; fi
log "installing: ${need[*]}"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# Debian's postinst scripts would start system-wide services; keep them from doing so.
$SUDO sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
$SUDO rm -f /usr/sbin/policy-rc.d
log "installed: ${need[*]}"
