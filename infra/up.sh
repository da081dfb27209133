#!/usr/bin/env bash
# Start the local infrastructure in dependency order: PostgreSQL, Kafka, and
# and Kafka Connect when RELAY_MODE=debezium (Connect needs both).
# Each start is idempotent, so running this twice is harmless.
#
# INFRA_SERVICES (space separated) overrides which services to start.
set -euo pipefail

here="${BASH_SOURCE[0]}"; [[ "$here" == */* ]] && here="${here%/*}" || here=.
cd -P -- "$here"
# shellcheck source=infra/common.sh
source ./common.sh

services="${INFRA_SERVICES:-$(default_infra_services)}"
for service in $services; do
    script="./$service.sh"
    # A project generated without Debezium has no connect.sh.
    [[ -f "$script" ]] || continue
    bash "$script" start
done
