"""What each option of the matrix generates: the repository's files, minus the template's own
machinery and the relay options not chosen, plus the configuration rendered for the answers."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from template_hooks.manifest import RELAY_MODE_PATHS, removed_for
from template_hooks.tree import matches
from tests.template.conftest import CASES, expected_files, files_of, rendered_paths

RELAY_MODE = {name: answers.get("relay_mode", "both") for name, answers in CASES.items()}

# The polling relay's package, by module or by path.
RELAY_PACKAGE = re.compile(r"services[./]relay\b")
# The lines of a Debezium-only project that name the polling relay's package on purpose, by
# file: each copes with the package's absence. Any other line naming it fails the test below,
# and so does one of these once edited, until someone checks that it still copes and lists it
# here anew.
GUARDED_RELAY_MENTIONS = {
    # migration_plan() leaves out a package that importlib.util.find_spec does not find.
    "services/migrate.py": ('("relay", "services.relay"))',),
    # The relay is started (and stopped) only where its directory exists.
    "infra/services.sh": ('[[ -d "$REPO_ROOT/services/relay" ]] && SERVICES+=(relay)',),
    # Prose: why the demo reads the relay's two settings with a class of its own.
    "scripts/demo.py": (
        'only has no `services.relay` (keep in step with `services/relay/settings.py`)."""',
    ),
}

OWN_FILES = (
    "README.md",
    "Makefile",
    ".gitignore",
    ".env.example",
    "LICENSE",
    "pyproject.toml",
    ".github/workflows/ci.yml",
    ".ci/run",
)


def env_example(project: Path) -> dict[str, str]:
    """The settings of the project's .env.example."""
    lines = (project / ".env.example").read_text("utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


@pytest.mark.parametrize("case", CASES)
def test_project_is_what_git_tracks_minus_template_and_unchosen_options(
    baked: dict[str, Path], snapshot: Path, case: str
) -> None:
    removed = removed_for(RELAY_MODE[case])
    expected = expected_files(snapshot, lambda path: matches(path, removed))
    found = files_of(baked[case])
    assert (sorted(found - expected), sorted(expected - found)) == ([], [])


@pytest.mark.parametrize("case", CASES)
def test_project_has_its_own_readme_makefile_ci_and_license(
    baked: dict[str, Path], case: str
) -> None:
    project = baked[case]
    for path in OWN_FILES:
        assert (project / path).is_file(), path
    assert os.access(project / ".ci/run", os.X_OK)
    readme = (project / "README.md").read_text("utf-8")
    name = CASES[case].get("project_name", "Outbox Shop")
    assert readme.startswith(f"# {name}\n")
    # The two commands come first, before any section.
    before_sections = readme.split("\n## ", 1)[0]
    assert "make demo" in before_sections
    assert "make test" in before_sections


@pytest.mark.parametrize("case", CASES)
def test_configuration_carries_the_answers(baked: dict[str, Path], case: str) -> None:
    project = baked[case]
    answers = CASES[case]
    pyproject = tomllib.loads((project / "pyproject.toml").read_text("utf-8"))["project"]
    assert pyproject["name"] == project.name
    assert pyproject["description"] == answers.get(
        "description",
        "Orders and inventory on Faust and PostgreSQL, with a transactional outbox relayed to "
        "Kafka exactly once.",
    )
    python = answers.get("python_version", "3.11")
    assert pyproject["requires-python"] == f">={python}"
    assert f'python-version: "{python}"' in (project / ".github/workflows/ci.yml").read_text()
    settings = env_example(project)
    assert settings["ORDER_EVENTS_TOPIC"] == answers.get("order_events_topic", "order.events")
    relay_mode = "debezium" if RELAY_MODE[case] == "debezium" else "polling"
    assert settings["RELAY_MODE"] == relay_mode


def test_hostile_name_becomes_a_usable_slug(baked: dict[str, Path]) -> None:
    project = baked["hostile"]
    assert project.name == "9-unicode-shop-n"
    pyproject = tomllib.loads((project / "pyproject.toml").read_text("utf-8"))["project"]
    assert pyproject["authors"] == [
        {"name": "9 Ünïcode-Shop ✓ Ñ maintainers", "email": "ñandú@example.com"}
    ]
    assert "Copyright (c) 9 Ünïcode-Shop ✓ Ñ maintainers" in (project / "LICENSE").read_text()


@pytest.mark.parametrize(
    ("case", "license_line"),
    [
        ("defaults", "MIT License"),
        ("polling", "                                 Apache License"),
        ("debezium", "Copyright (c) Outbox Shop maintainers. All rights reserved."),
    ],
)
def test_license_is_the_chosen_one(baked: dict[str, Path], case: str, license_line: str) -> None:
    assert (baked[case] / "LICENSE").read_text("utf-8").splitlines()[0] == license_line


def test_polling_project_has_nothing_of_debezium(baked: dict[str, Path]) -> None:
    project = baked["polling"]
    assert not [path for path in files_of(project) if matches(path, RELAY_MODE_PATHS["debezium"])]
    for path in sorted(rendered_paths()):
        text = (project / path).read_text("utf-8").lower()
        assert "debezium" not in text, path
        assert not re.search(r"\bcdc\b|kafka connect|connect_", text), path


def test_debezium_project_has_nothing_of_the_polling_relay(baked: dict[str, Path]) -> None:
    project = baked["debezium"]
    assert not [path for path in files_of(project) if matches(path, RELAY_MODE_PATHS["polling"])]
    settings = env_example(project)
    assert [key for key in settings if key.startswith("RELAY_")] == ["RELAY_MODE"]
    mentions = [
        f"{path}: {line.strip()}"
        for path in sorted(files_of(project))
        for line in (project / path).read_text("utf-8", "replace").splitlines()
        if RELAY_PACKAGE.search(line) and line.strip() not in GUARDED_RELAY_MENTIONS.get(path, ())
    ]
    assert mentions == [], "these lines use the relay service the project does not have"


@pytest.mark.parametrize("case", CASES)
def test_compose_project_is_named_after_the_slug_and_runs_the_chosen_relay(
    baked: dict[str, Path], case: str
) -> None:
    project = baked[case]
    compose = yaml.safe_load((project / "docker-compose.yml").read_text("utf-8"))
    assert compose["name"] == project.name
    services = compose["services"]
    mode = RELAY_MODE[case]
    assert ("relay" in services) is (mode != "debezium")
    assert ("connect" in services) is (mode != "polling")
    if mode == "debezium":  # nothing else relays the outbox: Connect starts by default
        assert "profiles" not in services["connect"]
    topic = CASES[case].get("order_events_topic", "order.events")
    assert f"${{ORDER_EVENTS_TOPIC:-{topic}}}" in (project / "docker-compose.yml").read_text()
