#!/usr/bin/env bash
# First start of the compose `postgres` service only (docker-entrypoint-initdb.d runs while the
# data directory is empty): the project's role and both databases, as infra/postgres.sh makes
# them for the local cluster. The role is not a superuser; REPLICATION lets Debezium open a
# logical replication slot, CREATEDB lets the integration tests make databases of their own.
#
# Values come from the container's environment (docker-compose.yml), and reach SQL only as
# psql variables quoted with :'name' and format(%I / %L), never spliced into the text.
set -euo pipefail

psql -X -v ON_ERROR_STOP=1 --no-password \
    --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v role="$APP_DB_USER" -v password="$APP_DB_PASSWORD" \
    -v order_db="$ORDER_DB_NAME" -v inventory_db="$INVENTORY_DB_NAME" <<'SQL'
SELECT format('CREATE ROLE %I', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN REPLICATION CREATEDB PASSWORD %L', :'role', :'password') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'order_db', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'order_db') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'inventory_db', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'inventory_db') \gexec
SQL
