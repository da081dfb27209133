#!/usr/bin/env bash
# Stop the local infrastructure in reverse dependency order: Kafka Connect (if
# present), Kafka, PostgreSQL. Data is kept for the next up.sh; each stop is
# idempotent and leaves no port held.
#
# INFRA_SERVICES (space separated, in start order) overrides which services to stop.
set -euo pipefail

here="${BASH_SOURCE[0]}"; [[ "$here" == */* ]] && here="${here%/*}" || here=.
cd -P -- "$here"

services="${INFRA_SERVICES:-postgres kafka connect}"
read -ra ordered <<<"$services"
status=0
# Keep going when one service fails to stop, so the others still stop.
for ((i = ${#ordered[@]} - 1; i >= 0; i--)); do
    script="./${ordered[i]}.sh"
    [[ -f "$script" ]] || continue
    bash "$script" stop || status=1
done
exit "$status"
