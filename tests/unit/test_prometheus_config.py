"""Prometheus's config and alert rules (infra/prometheus/), checked with promtool.

promtool comes with Debian's `prometheus` package (`.ci/run` installs it when missing). The
rules' own behaviour, when each alert fires and when it stays quiet, is `promtool test rules`
on alerts.test.yml; here it must pass, and the rules must read only metrics the services
export (docs/metrics.md) and scrape exactly the services compose runs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.compose_support import REPO, compose, compose_raw, env_example
from tests.unit.test_compose import http_services

PROMETHEUS = REPO / "infra" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    found = shutil.which("promtool")
    assert found, "promtool not found: install Debian's `prometheus` package (.ci/run does)"
    return subprocess.run([found, *args], cwd=PROMETHEUS, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.parametrize("args", [
    ("check", "config", "prometheus.yml"),
    ("check", "rules", "alerts.yml"),
    ("test", "rules", "alerts.test.yml"),
], ids=" ".join)
def test_promtool_accepts_the_config_and_the_rules_behave_as_their_tests_say(
    args: tuple[str, ...],
) -> None:
    result = promtool(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_a_rule_that_fires_wrongly_fails_the_rule_tests(tmp_path: Path) -> None:
    # The rule tests can fail: with the outbox alert's threshold at 30 s, it fires at 45 s,
    # when alerts.test.yml says it must still be quiet at 1 minute.
    rules = (PROMETHEUS / "alerts.yml").read_text(encoding="utf-8")
    assert "(outbox_oldest_pending_age_seconds) > 60" in rules
    (tmp_path / "alerts.yml").write_text(
        rules.replace("(outbox_oldest_pending_age_seconds) > 60",
                      "(outbox_oldest_pending_age_seconds) > 30"), encoding="utf-8")
    shutil.copy(PROMETHEUS / "alerts.test.yml", tmp_path)
    found = shutil.which("promtool")
    assert found
    result = subprocess.run([found, "test", "rules", "alerts.test.yml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    assert "OutboxEventsWaiting" in result.stdout + result.stderr


def test_the_alerts_read_only_metrics_the_services_export() -> None:
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", (REPO / "docs" / "metrics.md").read_text(
        encoding="utf-8"), re.M))
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    alerts = {rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}
    assert set(alerts) == {"OutboxEventsWaiting", "ConsumerLagGrowing", "DeadLettersWaiting"}
    for name, expr in alerts.items():
        used = set(re.findall(r"\b((?:outbox|inbox|relay|http)_[a-z_]+)\b", expr))
        assert used, name
        assert used <= documented, f"{name} reads {used - documented}, not in docs/metrics.md"


def test_prometheus_scrapes_every_http_service_of_compose_on_its_port() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    scraped = {}
    for job in config["scrape_configs"]:
        [discovery] = job["dns_sd_configs"]
        scraped[job["job_name"]] = (discovery["names"], discovery["port"])
    settings = env_example()
    for name in http_services():
        assert scraped.get(name) == ([name], int(settings[f"{name.upper()}_HTTP_PORT"])), name
    # The relay's job stays in projects without one: it simply finds no target there.
    assert set(scraped) <= {"order", "relay", "inventory"}

    service = compose_raw()["services"]["prometheus"]
    mounts = {volume["target"]: volume for volume in service["volumes"] if isinstance(volume, dict)}
    assert mounts["/etc/prometheus"]["source"] == "./infra/prometheus"
    assert mounts["/etc/prometheus"]["read_only"] is True


@pytest.mark.parametrize(("ports", "refused"), [
    ({}, None),
    ({"INVENTORY_HTTP_PORT": "9181"}, "inventory listens on 9181"),
])
def test_prometheus_refuses_to_start_when_env_moves_a_service_it_scrapes(
    ports: dict[str, str], refused: str | None,
) -> None:
    service = compose()["services"]["prometheus"]
    assert service["entrypoint"] == ["/bin/sh", "-c"]
    # The container's script, with a stand-in for the Prometheus binary.
    script = service["command"][0].replace("exec /bin/prometheus", "exec echo prometheus")
    env = {**service["environment"], **ports, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True,
                            timeout=30, check=False)
    if refused is None:
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("prometheus --config.file=/etc/prometheus/prometheus.yml")
    else:
        assert result.returncode == 1
        assert refused in result.stderr
