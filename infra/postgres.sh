#!/usr/bin/env bash
# A PostgreSQL cluster of the project's own, run as a local process.
#
#   infra/postgres.sh start    initdb once, start, create role + databases (idempotent)
#   infra/postgres.sh stop     fast shutdown (idempotent)
#   infra/postgres.sh status   exit 0 when running, 3 when not
#   infra/postgres.sh psql ... psql as $POSTGRES_USER on $ORDER_DB_NAME (-d to change)
#
# It uses the Debian package's server binaries but never the system cluster:
# the data directory, port and socket are this project's own. Logical
# decoding is enabled (wal_level=logical) for Debezium and the tests.
#
# PostgreSQL refuses to run as root. When run as root, the server runs as the
# `postgres` OS user, and its data directory lives under /var/tmp (the repo
# may sit under /root, which that user cannot traverse). The log still goes
# to $RUN_DIR/logs/postgres.log: root opens the file, the server inherits it.
set -euo pipefail

here="${BASH_SOURCE[0]}"; [[ "$here" == */* ]] && here="${here%/*}" || here=.
# shellcheck source=common.sh source-path=SCRIPTDIR
source "$here/common.sh"
load_settings

PG_LOG="$LOG_DIR/postgres.log"

# Newest major version installed by the Debian packages, or POSTGRES_BIN_DIR.
find_pg_bin() {
    if [[ -n "${POSTGRES_BIN_DIR:-}" ]]; then
        [[ -x "$POSTGRES_BIN_DIR/pg_ctl" ]] ||
            die "POSTGRES_BIN_DIR=$POSTGRES_BIN_DIR has no pg_ctl"
        PG_BIN="$POSTGRES_BIN_DIR"
        return
    fi
    local dir major best=""
    for dir in /usr/lib/postgresql/*/bin; do
        [[ -x "$dir/pg_ctl" && -x "$dir/initdb" && -x "$dir/postgres" ]] || continue
        major="${dir#/usr/lib/postgresql/}"
        major="${major%/bin}"
        [[ "$major" =~ ^[0-9]+$ ]] || continue
        if [[ -z "$best" ]] || ((major > best)); then best="$major"; fi
    done
    [[ -n "$best" ]] ||
        die "PostgreSQL server binaries not found; install them with: apt-get install postgresql"
    PG_BIN="/usr/lib/postgresql/$best/bin"
}

# Where the cluster lives and as whom it runs.
resolve_layout() {
    local id
    id="$(run_dir_id)"
    if ((EUID == 0)); then
        id -u postgres >/dev/null 2>&1 ||
            die "running as root needs the 'postgres' OS user to run the server; install the postgresql package (apt-get install postgresql)"
        PG_OS_USER=postgres
        PG_BASE="/var/tmp/faust-outbox-$id"
    else
        PG_OS_USER="$(id -un)"
        PG_BASE="$RUN_DIR/postgres"
    fi
    PG_DATA="$PG_BASE/data"
    # Unix socket paths are limited to ~107 bytes; a deep RUN_DIR would break.
    PG_SOCKET_DIR="$PG_BASE/socket"
    if ((${#PG_SOCKET_DIR} > 80)); then
        PG_SOCKET_DIR="/var/tmp/faust-outbox-$id-socket"
    fi
}

# Run a command as the server's OS user, from a directory that user can read
# (pg_ctl and initdb fail when they cannot resolve their working directory).
as_pg() {
    if ((EUID == 0)); then
        (cd / && runuser -u "$PG_OS_USER" -- "$@")
    else
        "$@"
    fi
}

# A SQL string literal (standard_conforming_strings is on by default).
sql_literal() {
    printf "'%s'" "${1//\'/\'\'}"
}

pg_running() {
    [[ -f "$PG_DATA/PG_VERSION" ]] || return 1
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

make_dirs() {
    mkdir -p "$PG_BASE" "$PG_SOCKET_DIR"
    if ((EUID == 0)); then
        chown "$PG_OS_USER:" "$PG_BASE" "$PG_SOCKET_DIR"
        # Leave a pointer so people can find the data directory from the repo.
        printf '%s\n' "$PG_DATA" >"$RUN_DIR/postgres.datadir"
    fi
    chmod 700 "$PG_BASE" "$PG_SOCKET_DIR"
}

init_cluster() {
    if [[ -f "$PG_DATA/PG_VERSION" ]]; then
        local have want
        have="$(<"$PG_DATA/PG_VERSION")"
        want="$("$PG_BIN/pg_ctl" --version | sed -n 's/^[^0-9]*\([0-9]*\).*/\1/p')"
        [[ "$have" == "$want" ]] ||
            die "cluster in $PG_DATA was created by PostgreSQL $have but the binaries are $want; remove $PG_BASE to start afresh"
        return 0
    fi
    say "postgres: creating the cluster in $PG_DATA"
    # UTF8 without an OS locale: works on any machine, sorts bytewise.
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" --encoding=UTF8 --no-locale \
        --auth-local=peer --auth-host=scram-sha-256 >>"$PG_LOG" 2>&1 ||
        die_with_log "initdb failed" "$PG_LOG"
    # Settings that follow the environment are rewritten on every start.
    printf "\n# Project settings, rewritten by infra/postgres.sh on every start.\ninclude_if_exists = 'project.conf'\n" |
        as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null
}

# Rewritten on every start so a changed POSTGRES_PORT or user takes effect.
write_config() {
    as_pg tee "$PG_DATA/project.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $POSTGRES_PORT
unix_socket_directories = '$PG_SOCKET_DIR'
max_connections = 200
# Logical decoding for Debezium and the replication-slot tests.
wal_level = logical
max_replication_slots = 10
max_wal_senders = 10
# An abandoned slot must not fill the disk.
max_slot_wal_keep_size = 1GB
password_encryption = scram-sha-256
log_line_prefix = '%m [%p] %q%u@%d '
EOF
    # Peer auth on the socket for administration; passwords over TCP, also for
    # replication connections (Debezium, pg_recvlogical).
    as_pg tee "$PG_DATA/pg_hba.conf" >/dev/null <<EOF
# TYPE  DATABASE     USER  ADDRESS       METHOD
local   all          all                 peer
local   replication  all                 peer
host    all          all   127.0.0.1/32  scram-sha-256
host    replication  all   127.0.0.1/32  scram-sha-256
EOF
}

wait_ready() {
    local deadline=$((SECONDS + 30))
    until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$POSTGRES_PORT" -t 1; do
        ((SECONDS < deadline)) ||
            die_with_log "postgres did not accept connections on 127.0.0.1:$POSTGRES_PORT within 30s" "$PG_LOG"
        sleep 0.3
    done
}

# Role with REPLICATION (logical slots) and both databases, idempotently.
# The SQL goes through stdin so the password never shows up in `ps`.
bootstrap_sql() {
    local role pw db
    role="$(sql_literal "$POSTGRES_USER")"
    pw="$(sql_literal "$POSTGRES_PASSWORD")"
    cat <<EOF
SELECT format('CREATE ROLE %I', $role)
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $role) \\gexec
SELECT format('ALTER ROLE %I WITH LOGIN REPLICATION CREATEDB PASSWORD %L', $role, $pw) \\gexec
EOF
    for db in "$ORDER_DB_NAME" "$INVENTORY_DB_NAME"; do
        db="$(sql_literal "$db")"
        cat <<EOF
SELECT format('CREATE DATABASE %I OWNER %I', $db, $role)
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = $db) \\gexec
EOF
    done
}

bootstrap() {
    bootstrap_sql | as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
        -h "$PG_SOCKET_DIR" -p "$POSTGRES_PORT" -U "$PG_OS_USER" -d postgres >>"$PG_LOG" 2>&1 ||
        die_with_log "creating role $POSTGRES_USER and databases $ORDER_DB_NAME, $INVENTORY_DB_NAME failed" "$PG_LOG"
}

cmd_start() {
    find_pg_bin
    resolve_layout
    if pg_running; then
        say "postgres: already running on 127.0.0.1:$POSTGRES_PORT (data: $PG_DATA)"
        return 0
    fi
    ensure_port_free "$POSTGRES_PORT" POSTGRES_PORT
    ensure_log_dir
    make_dirs
    init_cluster
    write_config
    # Without -l the server writes to pg_ctl's stdout, i.e. the log file that
    # this (possibly root) shell opened; the postgres user needs no access to it.
    if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -w -t 30 start >>"$PG_LOG" 2>&1; then
        die_with_log "postgres failed to start on 127.0.0.1:$POSTGRES_PORT" "$PG_LOG"
    fi
    wait_ready
    bootstrap
    say "postgres: running on 127.0.0.1:$POSTGRES_PORT (databases: $ORDER_DB_NAME, $INVENTORY_DB_NAME; data: $PG_DATA; log: $PG_LOG)"
}

cmd_stop() {
    find_pg_bin
    resolve_layout
    if ! pg_running; then
        say "postgres: not running"
        return 0
    fi
    ensure_log_dir
    # Fast: roll back open transactions and disconnect clients, but still a
    # clean shutdown checkpoint. Fall back to immediate, then SIGKILL.
    if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 stop >>"$PG_LOG" 2>&1; then
        say "postgres: fast shutdown timed out; forcing an immediate shutdown"
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 10 stop >>"$PG_LOG" 2>&1 || {
            local pid
            pid="$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)"
            if [[ "$pid" =~ ^[0-9]+$ ]]; then kill -KILL "$pid" 2>/dev/null || true; fi
        }
    fi
    if ! wait_port_released "$POSTGRES_PORT" 15; then
        local owner
        owner="$(port_owner "$POSTGRES_PORT")"
        die "postgres stopped but port $POSTGRES_PORT is still held${owner:+ by $owner}"
    fi
    say "postgres: stopped"
}

cmd_status() {
    find_pg_bin
    resolve_layout
    if pg_running; then
        say "postgres: running on 127.0.0.1:$POSTGRES_PORT (data: $PG_DATA; log: $PG_LOG)"
    else
        say "postgres: not running"
        return 3
    fi
}

cmd_psql() {
    find_pg_bin
    # The environment gives defaults that a -d/-U on the command line overrides.
    PGHOST="$POSTGRES_HOST" PGPORT="$POSTGRES_PORT" PGUSER="$POSTGRES_USER" \
        PGPASSWORD="$POSTGRES_PASSWORD" PGDATABASE="$ORDER_DB_NAME" \
        exec "$PG_BIN/psql" "$@"
}

usage() {
    printf 'usage: %s start|stop|status|psql [psql args]\n' "$0" >&2
    exit 2
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    psql) shift; cmd_psql "$@" ;;
    *) usage ;;
esac
