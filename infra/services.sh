#!/usr/bin/env bash
# Start or stop the three services (order, relay, inventory) as background processes, each
# with its log in $RUN_DIR/logs/<service>.log; with RELAY_MODE=debezium also the outbox
# cleanup (services/outbox_cleanup.py), which deletes the rows Debezium has published. Needs PostgreSQL and Kafka up and migrated
# (`make up` does all of it).
#
#   infra/services.sh start|stop|status
set -euo pipefail

here="${BASH_SOURCE[0]}"; [[ "$here" == */* ]] && here="${here%/*}" || here=.
# shellcheck source=infra/common.sh
source "$(cd -P -- "$here" && pwd)/common.sh"
load_settings
: "${ORDER_HTTP_PORT:=8080}" "${INVENTORY_HTTP_PORT:=8081}" "${RELAY_HTTP_PORT:=8082}"
: "${SERVICES_PYTHON:=$REPO_ROOT/.venv/bin/python}"

# A project generated with relay_mode=debezium has no polling relay service.
SERVICES=(order)
[[ -d "$REPO_ROOT/services/relay" ]] && SERVICES+=(relay)
SERVICES+=(inventory)
# Debezium never marks nor deletes an outbox row: without the cleanup the tables grow forever.
[[ "${RELAY_MODE:-polling}" == debezium && -f "$REPO_ROOT/services/outbox_cleanup.py" ]] &&
    SERVICES+=(outbox_cleanup)

port_of() {
    case "$1" in
        order) echo "$ORDER_HTTP_PORT" ;;
        relay) echo "$RELAY_HTTP_PORT" ;;
        inventory) echo "$INVENTORY_HTTP_PORT" ;;
        *) echo "" ;;  # the cleanup serves no HTTP
    esac
}

pidfile_of() { echo "$RUN_DIR/$1.pid"; }

# /health answers 200 once the service's pool and web server are up.
healthy() {
    "$SERVICES_PYTHON" - "$1" <<'PY' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=2) as answer:
    sys.exit(0 if answer.status == 200 else 1)
PY
}

start_one() {
    local service="$1" port pidfile log pid deadline
    port="$(port_of "$service")"
    pidfile="$(pidfile_of "$service")"
    log="$LOG_DIR/$service.log"
    if pid="$(pidfile_alive "$pidfile" "services.$service")"; then
        say "$service: already running (pid $pid)${port:+ on http://127.0.0.1:$port}"
        return 0
    fi
    [[ -z "$port" ]] || ensure_port_free "$port" "${service^^}_HTTP_PORT"
    [[ -x "$SERVICES_PYTHON" ]] || die "$SERVICES_PYTHON not found; run \`make install\` first"
    say "----- $service start $(date -u +%FT%TZ) -----" >>"$log"
    local logged
    logged="$(wc -l <"$log")"
    (cd "$REPO_ROOT" && start_daemon "$pidfile" "$log" "$SERVICES_PYTHON" -m "services.$service")
    pid="$(<"$pidfile")"
    deadline=$((SECONDS + 60))
    if [[ -z "$port" ]]; then
        # No /health to ask: started once its log says so (it exits on bad settings).
        until tail -n "+$((logged + 1))" "$log" | grep -q "outbox cleanup started"; do
            kill -0 "$pid" 2>/dev/null || die "$service exited during start-up; see $log"
            ((SECONDS < deadline)) || die "$service did not start within 60s; see $log"
            sleep 0.5
        done
        say "$service: running (pid $pid) (log: $log)"
        return 0
    fi
    until healthy "$port"; do
        kill -0 "$pid" 2>/dev/null || die "$service exited during start-up; see $log"
        ((SECONDS < deadline)) || die "$service did not answer /health on port $port within 60s; see $log"
        sleep 0.5
    done
    say "$service: running (pid $pid) on http://127.0.0.1:$port (log: $log)"
}

cmd_start() {
    ensure_log_dir
    local service
    for service in "${SERVICES[@]}"; do start_one "$service"; done
}

cmd_stop() {
    local index service
    for ((index = ${#SERVICES[@]} - 1; index >= 0; index--)); do
        service="${SERVICES[index]}"
        stop_pid "$(pidfile_of "$service")" 30
        say "$service: stopped"
    done
}

cmd_status() {
    local service pid port code=0
    for service in "${SERVICES[@]}"; do
        port="$(port_of "$service")"
        if pid="$(pidfile_alive "$(pidfile_of "$service")" "services.$service")"; then
            say "$service: running (pid $pid)${port:+ on http://127.0.0.1:$port}"
        else
            say "$service: not running"
            code=3
        fi
    done
    return "$code"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
