#!/usr/bin/env bash
# Run a command with the local infrastructure up: start what is not running yet, run the
# command, then stop exactly what this script started (also when the command fails or is
# interrupted). Infrastructure a developer already had running is left running.
#
#   infra/with-infra.sh make-some-tests ...
#
# INFRA_SERVICES (space separated, in start order) chooses the components; by default
# PostgreSQL and Kafka, and Kafka Connect when RELAY_MODE=debezium.
set -euo pipefail

here="${BASH_SOURCE[0]}"; [[ "$here" == */* ]] && here="${here%/*}" || here=.
infra="$(cd -P -- "$here" && pwd)"

# shellcheck source=infra/common.sh
source "$infra/common.sh"
services="${INFRA_SERVICES:-$(default_infra_services)}"
started=()

stop_started() {
    local index
    # Stop in reverse start order: Connect before Kafka before PostgreSQL.
    for ((index = ${#started[@]} - 1; index >= 0; index--)); do
        bash "$infra/${started[index]}.sh" stop || true
    done
}
trap stop_started EXIT
trap 'exit 130' INT TERM

for service in $services; do
    [[ -f "$infra/$service.sh" ]] || continue
    if bash "$infra/$service.sh" status >/dev/null 2>&1; then
        echo "$service: already running; leaving it running afterwards"
        continue
    fi
    started+=("$service")
    bash "$infra/$service.sh" start
done

"$@"
