# syntax=docker/dockerfile:1
# One Dockerfile, two images (see docker-compose.yml):
#   target `runtime` (the default): the order service, the relay, the inventory service and
#                     the migrations, each started with `python -m services.<name>`;
#   target `connect`: a Kafka Connect worker with the Debezium PostgreSQL connector, for the
#                     `cdc` compose profile.
# Base images carry exact tags so a rebuild next month gives the same Python and Kafka.

# Bump the patch version here only; both Python stages use it, and the venv built in the
# first is only valid on the identical interpreter of the second.
ARG PYTHON_IMAGE=python:3.11.17-slim-bookworm
# The same broker version as the local scripts: KAFKA_VERSION in .env.example (compose passes
# it as a build argument; tests/unit/test_compose.py keeps this default equal to it).
ARG KAFKA_VERSION=4.1.1

# ---------------------------------------------------------------------------------------------
# builder: install the project's wheel and its dependencies into a self-contained venv.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, from pyproject.toml alone, so that editing the code reuses this layer.
# The slim image has no compiler, and needs none: every dependency has a wheel for x86_64;
# on arm64 faust-streaming has none, and its sdist then builds without its optional Cython
# speed-ups (pure Python, same behaviour).
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# Then the project itself, as a regular (non-editable) install, checked as the image will use
# it: every service's module imports and every migration file is installed.
COPY README.md ./
COPY shared ./shared
COPY services ./services
COPY infra/compose/check_install.py ./
RUN pip install --no-deps . \
    && python -I check_install.py /src

# ---------------------------------------------------------------------------------------------
# debezium-plugin: the Debezium PostgreSQL connector as a Kafka Connect plugin directory.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS debezium-plugin

# Keep equal to debezium.version in infra/debezium/pom.xml (the local scripts' connector).
ARG DEBEZIUM_VERSION=3.6.1.Final
# The archive's SHA-256, so a changed or corrupted download fails the build. A new
# DEBEZIUM_VERSION needs a new checksum: the sha256sum of the new archive from Maven Central.
ADD --checksum=sha256:408b00c073b27ddaa7af34684f60fcf5bbf6605de68a8662ec9462f2a88880d2 \
    https://repo1.maven.org/maven2/io/debezium/debezium-connector-postgres/${DEBEZIUM_VERSION}/debezium-connector-postgres-${DEBEZIUM_VERSION}-plugin.tar.gz \
    /tmp/debezium-connector-postgres.tar.gz
# As infra/connect.sh does: the archive bundles its own kafka-clients and connect-api, which
# the worker never loads from a plugin (Connect does not isolate those packages); the copies
# would only add a second, newer StringConverter and config providers.
RUN mkdir -p /plugins \
    && tar -xzf /tmp/debezium-connector-postgres.tar.gz -C /plugins --no-same-owner \
    && rm -f /plugins/*/kafka-clients-*.jar /plugins/*/connect-api-*.jar \
    && ls /plugins/debezium-connector-postgres/debezium-connector-postgres-*.jar

# ---------------------------------------------------------------------------------------------
# connect: Kafka Connect (distributed mode) on the official Kafka image, plus Debezium.
# ---------------------------------------------------------------------------------------------
FROM apache/kafka:${KAFKA_VERSION} AS connect

# Owned by root, so the image's own unprivileged user (appuser, which the worker keeps running
# as) can read but not change them.
COPY --from=debezium-plugin /plugins /opt/kafka/plugins
COPY infra/compose/connect-distributed.properties /opt/kafka/config/connect-compose.properties
EXPOSE 8083
CMD ["/opt/kafka/bin/connect-distributed.sh", "/opt/kafka/config/connect-compose.properties"]

# ---------------------------------------------------------------------------------------------
# runtime: the venv on a clean slim image, run as an unprivileged user. Last, so that a plain
# `docker build .` gives this image.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin app
COPY --from=builder /opt/venv /opt/venv

# The code lives in the venv; /app is only the working directory. Faust keeps its local
# state under DATA_DIR (default `.run/faust`, relative to it), the one writable place.
WORKDIR /app
RUN mkdir -p /app/.run && chown app:app /app/.run
# Numeric, so that a runtime can verify "not root" without looking up /etc/passwd.
USER 10001:10001

# order (ORDER_HTTP_PORT), inventory (INVENTORY_HTTP_PORT), relay (RELAY_HTTP_PORT)
EXPOSE 8080 8081 8082
CMD ["python", "-m", "services.order"]
