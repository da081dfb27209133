"""Which files a generated project gets: the .gitignore reading, the globs, the pruning."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from template_hooks.manifest import RELAY_MODE_PATHS, TEMPLATE_ONLY, removed_for
from template_hooks.tree import (
    IgnoreRule,
    copy_project_files,
    ignored,
    is_template_only,
    matches,
    project_files,
    remove_paths,
)
from tests.template.conftest import ROOT, files_of


def rules(*lines: str) -> list[IgnoreRule]:
    parsed = (IgnoreRule.parse(line) for line in lines)
    return [rule for rule in parsed if rule is not None]


@pytest.mark.parametrize(
    ("lines", "path", "is_dir", "expected"),
    [
        ((".venv/",), ".venv", True, True),
        ((".venv/",), "sub/.venv", True, True),
        ((".venv/",), ".venv", False, False),  # a file of that name is kept
        (("*.egg-info/",), "outbox_shop.egg-info", True, True),
        ((".env",), ".env", False, True),
        ((".env",), ".env.example", False, False),
        (("/build",), "build", True, True),
        (("/build",), "docs/build", True, False),  # anchored to the root
        (("docs/*.html",), "docs/index.html", False, True),
        (("docs/*.html",), "docs/api/index.html", False, False),
        (("**/cache",), "a/b/cache", True, True),
        (("*.log", "!keep.log"), "keep.log", False, False),  # the last match decides
        (("# comment", ""), "# comment", False, False),
    ],
)
def test_gitignore_rules_read_as_git_reads_them(
    lines: tuple[str, ...], path: str, is_dir: bool, expected: bool
) -> None:
    assert ignored(path, is_dir, rules(*lines)) is expected


@pytest.mark.parametrize(
    ("path", "pattern", "expected"),
    [
        ("services/relay/app.py", "services/relay", True),
        ("services/relay", "services/relay", True),
        ("services/relayed.py", "services/relay", False),
        ("tests/unit/test_relay_records.py", "tests/**/test_relay*.py", True),
        ("tests/test_relay.py", "tests/**/test_relay*.py", True),
        ("tests/unit/test_order.py", "tests/**/test_relay*.py", False),
    ],
)
def test_manifest_patterns_match_paths_and_everything_below(
    path: str, pattern: str, expected: bool
) -> None:
    assert matches(path, [pattern]) is expected


def test_relay_modes_remove_the_other_modes_paths() -> None:
    assert removed_for("both") == ()
    assert removed_for("polling") == RELAY_MODE_PATHS["debezium"] + RELAY_MODE_PATHS["both"]
    assert removed_for("debezium") == RELAY_MODE_PATHS["polling"] + RELAY_MODE_PATHS["both"]
    with pytest.raises(ValueError, match="unknown relay_mode"):
        removed_for("kafka-streams")


def test_every_manifest_pattern_still_names_something() -> None:
    files = list(project_files(ROOT))
    for pattern in [*TEMPLATE_ONLY]:
        assert (ROOT / pattern).exists(), pattern
    stale = [
        pattern
        for patterns in RELAY_MODE_PATHS.values()
        for pattern in patterns
        if not any(matches(path, [pattern]) for path in files)
    ]
    assert stale == [], "remove these from template_hooks/manifest.py, or fix their names"


def test_project_files_are_what_git_would_track_minus_the_template() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    by_git = {path for path in listed.split("\0") if path and (ROOT / path).exists()}
    ours = set(project_files(ROOT))
    expected = {path for path in by_git if not is_template_only(path)}
    assert (sorted(ours - expected), sorted(expected - ours)) == ([], [])


def test_copy_keeps_rendered_files_and_restores_script_bits(tmp_path: Path) -> None:
    root, project = tmp_path / "root", tmp_path / "project"
    (root / "infra").mkdir(parents=True)
    (root / "cookiecutter.json").write_text("{}\n")
    (root / "README.md").write_text("root readme\n")
    (root / "infra" / "up.sh").write_text("#!/usr/bin/env bash\n")
    (root / "infra" / "up.sh").chmod(0o644)  # as a zip archive extracted by Python leaves it
    (root / ".gitignore").write_text(".run/\n")
    (root / ".run").mkdir()
    (root / ".run" / "pid").write_text("1\n")
    project.mkdir()
    (project / "README.md").write_text("rendered readme\n")

    copied = copy_project_files(root, project)

    assert sorted(copied) == [".gitignore", "infra/up.sh"]
    assert (project / "README.md").read_text() == "rendered readme\n"
    assert (project / "infra" / "up.sh").stat().st_mode & 0o777 == 0o755


def test_removing_paths_leaves_no_empty_directory(tmp_path: Path) -> None:
    for path in ("services/relay/app.py", "services/relay/migrations/0001.sql", "services/o.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("")
    removed = remove_paths(tmp_path, ["services/relay"])
    assert removed == ["services/relay/app.py", "services/relay/migrations/0001.sql"]
    assert files_of(tmp_path) == {"services/o.py"}
    assert not (tmp_path / "services" / "relay").exists()


def test_a_project_generated_inside_the_repository_does_not_copy_itself(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text("all:\n")
    project = tmp_path / "new-shop"
    project.mkdir()
    (project / "README.md").write_text("rendered\n")
    copy_project_files(tmp_path, project)
    assert files_of(project) == {"Makefile", "README.md"}
