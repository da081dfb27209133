"""Baking the template: a helper, the session's bakes of the option matrix, and a snapshot repo.

Every bake goes through cookiecutter's public API with a config file of the session's own, so
clones, unzipped archives and replay files stay in the test's temporary directories.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

from template_hooks.manifest import TEMPLATE_DIR_MARK
from template_hooks.tree import is_template_only

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIR = next(path for path in ROOT.iterdir() if TEMPLATE_DIR_MARK in path.name)
BIN = Path(sys.executable).parent

# The option matrix: name -> answers given on top of the defaults. Python 3.12 is checked by
# rendering only (test_render.py): each Python version costs a cold mypy run.
CASES: dict[str, dict[str, str]] = {
    "defaults": {},
    "polling": {"relay_mode": "polling", "license": "Apache-2.0"},
    "debezium": {"relay_mode": "debezium", "python_version": "3.13", "license": "Proprietary"},
    "hostile": {
        "project_name": "9 Ünïcode-Shop ✓ Ñ",
        "author_email": "ñandú@example.com",
        "order_events_topic": "shop_9.Orders-v2",
        "description": 'Quotes " and \\ backslashes survive',
    },
}

Bake = Callable[..., Path]


def files_of(tree: Path) -> set[str]:
    """Every file under `tree`, as `/`-separated relative paths."""
    return {
        path.relative_to(tree).as_posix()
        for path in tree.rglob("*")
        if path.is_file() or path.is_symlink()
    }


def rendered_paths() -> set[str]:
    """The files the template directory renders (their names hold no Jinja)."""
    return files_of(TEMPLATE_DIR)


@pytest.fixture(scope="session")
def bake(tmp_path_factory: pytest.TempPathFactory) -> Bake:
    """Generate a project from `template` (default: this repository) with the given answers.

    `hooks=False` renders the template directory only, as cookiecutter does before the hooks.
    """
    home = tmp_path_factory.mktemp("cookiecutter-home")
    config = home / "config.yaml"
    config.write_text(
        f"cookiecutters_dir: {home / 'cookiecutters'}\nreplay_dir: {home / 'replay'}\n",
        encoding="utf-8",
    )

    def bake(
        output_dir: Path | str, template: Path | str = ROOT, *, hooks: bool = True, **answers: str
    ) -> Path:
        project = cookiecutter(
            str(template),
            no_input=True,
            extra_context=answers,
            output_dir=str(output_dir),
            config_file=str(config),
            accept_hooks=hooks,
        )
        return Path(project).resolve()

    return bake


def git(*args: str, cwd: Path) -> str:
    """Run git with a fixed identity; return its stdout."""
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="session")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committed git repository holding what git would track in this one, copied by git."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT)
    repo = tmp_path_factory.mktemp("snapshot") / "outbox-shop-template"
    repo.mkdir()
    for path in filter(None, listed.split("\0")):
        source = ROOT / path
        if not source.is_file():  # deleted from the working tree but still in the index
            continue
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, repo / path)
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "snapshot", cwd=repo)
    return repo


@pytest.fixture(scope="session")
def baked(bake: Bake, snapshot: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One project per case of the option matrix, generated once for the session.

    Their ruff and mypy runs start at once in the background (see `static_checks`).
    """
    projects = {
        name: bake(tmp_path_factory.mktemp(f"bake-{name}"), snapshot, **answers)
        for name, answers in CASES.items()
    }
    _start_static_checks(projects)
    return projects


# Cached mypy results survive sessions (.mypy_cache is ignored by git); one cache directory per
# Python version, used by one process at a time.
MYPY_CACHE = ROOT / ".mypy_cache" / "template-bakes"
_checks: dict[str, Future[list[subprocess.CompletedProcess[str]]]] = {}


def _start_static_checks(projects: dict[str, Path]) -> None:
    by_version: dict[str, list[str]] = {}
    for name in projects:
        by_version.setdefault(CASES[name].get("python_version", "3.11"), []).append(name)
    for names in by_version.values():
        # One thread per Python version: its cases run in turn and share a warm cache.
        jobs = [(projects[name], _checks.setdefault(name, Future())) for name in names]
        threading.Thread(target=_check_in_turn, args=(jobs,), daemon=True).start()


def _check_in_turn(jobs: list[tuple[Path, Future[list[subprocess.CompletedProcess[str]]]]]) -> None:
    for project, future in jobs:
        try:
            future.set_result(
                [
                    run_tool("ruff", "check", "--no-cache", ".", cwd=project),
                    run_tool("mypy", "--cache-dir", str(MYPY_CACHE), ".", cwd=project),
                ]
            )
        except Exception as error:
            future.set_exception(error)


@pytest.fixture(scope="session")
def static_checks(
    baked: dict[str, Path],
) -> dict[str, Future[list[subprocess.CompletedProcess[str]]]]:
    """ruff and mypy of each baked project, run from inside it so its pyproject.toml applies."""
    return _checks


def expected_files(repo: Path, removed: Callable[[str], bool] = lambda path: False) -> set[str]:
    """What a project generated from the git repository `repo` must hold, no more, no less."""
    tracked = set(filter(None, git("ls-files", "-z", cwd=repo).split("\0")))
    copied = {path for path in tracked if not is_template_only(path)}
    return {path for path in copied | rendered_paths() if not removed(path)}


def run_tool(*command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run one of the venv's tools (ruff, mypy) in `cwd`; output captured."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MYPY")}
    return subprocess.run(
        [str(BIN / command[0]), *command[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
