# shellcheck shell=bash
# Shared helpers for the local infrastructure scripts (postgres.sh, kafka.sh,
# and later connect.sh). Source it; do not run it.
#
# Conventions every script follows:
#   * informational messages go to stdout (`say`), so that a failing command's
#     stderr holds exactly one line: `error: <cause>` (see `die`);
#   * settings come from the environment, else `.env`, else `.env.example`,
#     else the defaults below (see `load_settings`);
#   * every `start` is idempotent and every `stop` leaves no port held.

# Root of the repository, derived from this file's location so the scripts work
# from any working directory and in any clone location.
INFRA_DIR="${BASH_SOURCE[0]}"
[[ "$INFRA_DIR" == */* ]] && INFRA_DIR="${INFRA_DIR%/*}" || INFRA_DIR=.
INFRA_DIR="$(cd -P -- "$INFRA_DIR" && pwd)"
REPO_ROOT="$(cd -P -- "$INFRA_DIR/.." && pwd)"

# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

# One line on stderr, exit 1. Callers pass the cause without the prefix.
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

say() {
    printf '%s\n' "$*"
}

# die naming a log file; in CI (where the clone and its logs are thrown away)
# first copy the log's tail to stdout, so the cause is in the build output.
die_with_log() {
    local message="$1" logfile="$2"
    if [[ -n "${CI:-}" && -f "$logfile" ]]; then
        say "----- last 40 lines of $logfile -----"
        tail -n 40 "$logfile" || true
        say "-----"
    fi
    die "$message; see $logfile"
}

# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------

# Read KEY=VALUE lines from a dotenv file and export each key that is not
# already set. The file is parsed, never sourced, so it cannot run code.
# Surrounding single or double quotes around the value are removed.
_load_dotenv() {
    local file="$1" line key value
    [[ -f "$file" ]] || return 0
    while IFS= read -r line || [[ -n "$line" ]]; do
        line="${line%$'\r'}"
        # Skip blanks and comments.
        [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
        line="${line#"${line%%[![:space:]]*}"}"
        line="${line#export }"
        [[ "$line" == *=* ]] || continue
        key="${line%%=*}"
        value="${line#*=}"
        key="${key%"${key##*[![:space:]]}"}"
        [[ "$key" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
        if [[ "$value" =~ ^\"(.*)\"$ || "$value" =~ ^\'(.*)\'$ ]]; then
            value="${BASH_REMATCH[1]}"
        fi
        # The environment wins over the file; an earlier file wins over a later one.
        if [[ -z "${!key+x}" ]]; then
            export "$key=$value"
        fi
    done <"$file"
}

# Environment > .env > .env.example > defaults here. Keep the defaults in sync
# with .env.example.
load_settings() {
    _load_dotenv "$REPO_ROOT/.env"
    _load_dotenv "$REPO_ROOT/.env.example"

    : "${POSTGRES_HOST:=127.0.0.1}"
    : "${POSTGRES_PORT:=55432}"
    : "${POSTGRES_USER:=outbox}"
    : "${POSTGRES_PASSWORD:=outbox-dev-password}"
    : "${ORDER_DB_NAME:=orders}"
    : "${INVENTORY_DB_NAME:=inventory}"

    : "${KAFKA_VERSION:=4.1.1}"
    : "${KAFKA_PORT:=9092}"
    : "${KAFKA_CONTROLLER_PORT:=9093}"
    : "${KAFKA_BOOTSTRAP_SERVERS:=127.0.0.1:${KAFKA_PORT}}"
    # Small heap: the broker, a Connect worker and the tests share one machine.
    : "${KAFKA_HEAP_OPTS:=-Xms256m -Xmx512m}"

    # Where data, pid files and logs go. A relative RUN_DIR is taken relative to
    # the repository, not to the caller's working directory.
    : "${RUN_DIR:=$REPO_ROOT/.run}"
    [[ "$RUN_DIR" == /* ]] || RUN_DIR="$REPO_ROOT/$RUN_DIR"
    LOG_DIR="$RUN_DIR/logs"

    # Downloaded jars live outside the repository so another clone reuses them.
    if [[ -z "${CACHE_DIR:-}" ]]; then
        if [[ -n "${XDG_CACHE_HOME:-}" ]]; then
            CACHE_DIR="$XDG_CACHE_HOME/faust-outbox"
        elif [[ -n "${HOME:-}" ]]; then
            CACHE_DIR="$HOME/.cache/faust-outbox"
        else
            CACHE_DIR="$RUN_DIR/cache"
        fi
    fi
    KAFKA_CACHE_DIR="$CACHE_DIR/kafka-$KAFKA_VERSION"
    KAFKA_LIBS="$KAFKA_CACHE_DIR/libs"

    export POSTGRES_HOST POSTGRES_PORT POSTGRES_USER POSTGRES_PASSWORD \
        ORDER_DB_NAME INVENTORY_DB_NAME KAFKA_VERSION KAFKA_PORT \
        KAFKA_CONTROLLER_PORT KAFKA_BOOTSTRAP_SERVERS KAFKA_HEAP_OPTS \
        RUN_DIR LOG_DIR CACHE_DIR KAFKA_CACHE_DIR KAFKA_LIBS
}

# Short, stable id for this RUN_DIR. Used for paths outside RUN_DIR (the
# postgres data dir under /var/tmp) so two clones never share a cluster.
run_dir_id() {
    printf '%s' "$RUN_DIR" | sha256sum | cut -c1-12
}

ensure_log_dir() {
    mkdir -p "$LOG_DIR"
}

# ---------------------------------------------------------------------------
# Ports
# ---------------------------------------------------------------------------

# True when something accepts TCP connections on host:port.
port_open() {
    local host="$1" port="$2"
    # A subshell so the descriptor is closed again; connection refused on
    # loopback fails at once, `timeout` only guards against a filtered port.
    # shellcheck disable=SC2016  # expanded by the inner bash, from its arguments
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null
}

# Describe who listens on a TCP port, e.g. `java (pid 123)`; empty if unknown.
port_owner() {
    local port="$1" line
    command -v ss >/dev/null 2>&1 || return 0
    line="$(ss -Hltnp "sport = :$port" 2>/dev/null | head -n1)" || true
    if [[ "$line" =~ users:\(\(\"([^\"]+)\",pid=([0-9]+) ]]; then
        printf '%s (pid %s)' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
    fi
}

# True when a listening socket holds the port on any address.
port_in_use() {
    local port="$1"
    if command -v ss >/dev/null 2>&1; then
        [[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]]
    else
        port_open 127.0.0.1 "$port"
    fi
}

# Die with one line when a port we are about to bind is already taken.
# $2 names the setting that chooses the port, so the message says what to change.
ensure_port_free() {
    local port="$1" setting="$2" owner
    if port_in_use "$port"; then
        owner="$(port_owner "$port")"
        die "port $port ($setting) is already in use${owner:+ by $owner}; stop that process or set $setting to a free port"
    fi
}

# Poll until host:port accepts connections or the process $3 (optional) dies.
# Returns 1 on timeout or when the process died.
wait_for_port() {
    local host="$1" port="$2" pid="${3:-}" timeout_s="${4:-30}"
    local deadline=$((SECONDS + timeout_s))
    while ((SECONDS < deadline)); do
        port_open "$host" "$port" && return 0
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        sleep 0.3
    done
    return 1
}

# Poll until no socket listens on the port any more.
wait_port_released() {
    local port="$1" timeout_s="${2:-15}"
    local deadline=$((SECONDS + timeout_s))
    while ((SECONDS < deadline)); do
        port_in_use "$port" || return 0
        sleep 0.2
    done
    return 1
}

# ---------------------------------------------------------------------------
# Background processes with pid files
# ---------------------------------------------------------------------------

# Print the pid from a pid file when that process is alive and its command line
# contains $2 (guards against a recycled pid after a reboot or crash).
pidfile_alive() {
    local pidfile="$1" marker="$2" pid cmdline
    [[ -f "$pidfile" ]] || return 1
    pid="$(<"$pidfile")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ "$cmdline" == *"$marker"* ]] || return 1
    printf '%s' "$pid"
}

# Run a command detached from this shell: its own session (so Ctrl-C in the
# caller or the end of `make` does not kill it), stdin closed, stdout and
# stderr appended to $2. Writes the pid to $1.
start_daemon() {
    local pidfile="$1" logfile="$2"
    shift 2
    # Without job control the background child is not a process-group leader,
    # so setsid calls setsid(2) and execs in place: $! is the daemon's own pid.
    setsid "$@" </dev/null >>"$logfile" 2>&1 &
    printf '%s\n' "$!" >"$pidfile"
}

# SIGTERM, wait up to $2 seconds, then SIGKILL. Removes the pid file.
stop_pid() {
    local pidfile="$1" timeout_s="${2:-30}" pid deadline
    if [[ -f "$pidfile" ]]; then
        pid="$(<"$pidfile")"
        if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            deadline=$((SECONDS + timeout_s))
            while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
                sleep 0.3
            done
            if kill -0 "$pid" 2>/dev/null; then
                say "pid $pid did not stop after ${timeout_s}s; sending SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
                while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
            fi
        fi
    fi
    rm -f "$pidfile"
}

# ---------------------------------------------------------------------------
# Java and the Kafka jars (shared by kafka.sh and connect.sh)
# ---------------------------------------------------------------------------

require_java() {
    command -v java >/dev/null 2>&1 ||
        die "java not found on PATH; install a JDK 17+ (apt-get install openjdk-17-jre-headless)"
    local version major
    version="$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n1)" || true
    major="${version%%.*}"
    [[ "$major" == 1 ]] && major="$(cut -d. -f2 <<<"$version")"
    if [[ "$major" =~ ^[0-9]+$ ]] && ((major < 17)); then
        die "java $version found on PATH, but Kafka $KAFKA_VERSION needs Java 17+ (apt-get install openjdk-17-jre-headless)"
    fi
}

require_mvn() {
    command -v mvn >/dev/null 2>&1 ||
        die "mvn not found on PATH; install Maven 3.8+ (apt-get install maven)"
}

# The marker records the version and a checksum of the pom, so an edited pom
# or another KAFKA_VERSION fetches again instead of reusing stale jars.
_kafka_jars_stamp() {
    printf '%s %s\n' "$KAFKA_VERSION" "$(sha256sum <"$INFRA_DIR/kafka/pom.xml" | cut -c1-16)"
}

kafka_jars_present() {
    local marker="$KAFKA_CACHE_DIR/.fetched"
    [[ -f "$marker" && -d "$KAFKA_LIBS" ]] && [[ "$(<"$marker")" == "$(_kafka_jars_stamp)" ]]
}

# Download the Kafka broker, tools and Connect jars once into $KAFKA_LIBS.
# Maven's own ~/.m2 cache makes a second download cheap as well.
ensure_kafka_jars() {
    kafka_jars_present && return 0
    require_mvn
    mkdir -p "$KAFKA_CACHE_DIR"
    local mvn_log="$KAFKA_CACHE_DIR/mvn.log" staging="$KAFKA_CACHE_DIR/libs.partial"
    (
        # Two scripts may fetch at once (kafka.sh and connect.sh); one waits.
        flock 9
        kafka_jars_present && exit 0
        say "kafka: fetching Kafka $KAFKA_VERSION jars into $KAFKA_LIBS (once; log: $mvn_log)"
        rm -rf "$staging"
        # cd / so Maven never picks up a .mvn/ directory or settings from the caller's cwd.
        if ! (cd / && mvn -q -B -Dstyle.color=never -f "$INFRA_DIR/kafka/pom.xml" \
            -Dkafka.version="$KAFKA_VERSION" \
            dependency:copy-dependencies -DoutputDirectory="$staging") >"$mvn_log" 2>&1; then
            exit 2
        fi
        rm -rf "$KAFKA_LIBS"
        mv "$staging" "$KAFKA_LIBS"
        _kafka_jars_stamp >"$KAFKA_CACHE_DIR/.fetched"
    ) 9>"$KAFKA_CACHE_DIR/.lock" || die_with_log "downloading the Kafka $KAFKA_VERSION jars with mvn failed" "$mvn_log"
}

# Classpath for java -cp: the JVM expands `dir/*` itself.
kafka_classpath() {
    printf '%s/*' "$KAFKA_LIBS"
}

# Set KAFKA_JAVA_ARGV to a java command line on the Kafka jars, up to (not
# including) the main class: `kafka_java_argv LOG4J_CONFIG [JVM options...]`.
# An array rather than a function so it can be handed to setsid/start_daemon.
# The log4j2 config (infra/kafka/log4j2.properties) reads -Dinfra.log.file.
kafka_java_argv() {
    local log4j_config="$1"
    shift
    # shellcheck disable=SC2034  # read by the sourcing script
    KAFKA_JAVA_ARGV=(java "$@" -Dlog4j2.configurationFile="$log4j_config"
        -Dkafka.logs.dir="$LOG_DIR" -cp "$(kafka_classpath)")
}

# ---------------------------------------------------------------------------
# Which components to run
# ---------------------------------------------------------------------------

# The components `up.sh` and `with-infra.sh` start when INFRA_SERVICES is not set: Kafka
# Connect only when Debezium relays the outbox (RELAY_MODE=debezium), as it costs a JVM.
default_infra_services() {
    _load_dotenv "$REPO_ROOT/.env"
    _load_dotenv "$REPO_ROOT/.env.example"
    if [[ "${RELAY_MODE:-polling}" == debezium ]]; then
        echo "postgres kafka connect"
    else
        echo "postgres kafka"
    fi
}
