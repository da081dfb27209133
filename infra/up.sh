#!/usr/bin/env bash
# Start the local infrastructure in dependency order: PostgreSQL, Kafka, and
# Kafka Connect once infra/connect.sh exists (Connect needs both).
# Each start is idempotent, so running this twice is harmless.
#
# INFRA_SERVICES (space separated) overrides which services to start.
set -euo pipefail

here="${BASH_SOURCE[0]}"; [[ "$here" == */* ]] && here="${here%/*}" || here=.
cd -P -- "$here"

services="${INFRA_SERVICES:-postgres kafka connect}"
for service in $services; do
    script="./$service.sh"
    # connect.sh arrives later; skip services whose script does not exist yet.
    [[ -f "$script" ]] || continue
    bash "$script" start
done
