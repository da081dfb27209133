"""The template generates the same project from a relative path, an absolute path, a git URL and
a zip archive: the hooks find the repository wherever cookiecutter put it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from template_hooks.tree import is_template_only
from tests.template.conftest import Bake, expected_files, files_of, git, rendered_paths


def executables(tree: Path, paths: set[str]) -> set[str]:
    """The paths among `paths` that are executable files under `tree`."""
    return {path for path in paths if os.access(tree / path, os.X_OK)}


@pytest.mark.parametrize("source", ["relative path", "absolute path", "git URL", "zip archive"])
def test_same_project_from_every_kind_of_source(
    bake: Bake,
    snapshot: Path,
    baked: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
) -> None:
    template: str | Path
    if source == "relative path":
        monkeypatch.chdir(tmp_path)
        template = os.path.relpath(snapshot, tmp_path)
        assert template.startswith("..")
    elif source == "absolute path":
        template = snapshot
    elif source == "git URL":
        template = f"git+file://{snapshot}"
    else:
        # As a code host serves it: `git archive`, one top-level folder.
        template = tmp_path / "outbox-shop-template.zip"
        git(
            "archive",
            "--format=zip",
            "--prefix=outbox-shop-template/",
            "-o",
            str(template),
            "HEAD",
            cwd=snapshot,
        )

    project = bake(Path("out") if source == "relative path" else tmp_path / "out", template)

    files = files_of(project)
    assert files == expected_files(snapshot)
    for path in sorted(files - rendered_paths()):
        assert (project / path).read_bytes() == (snapshot / path).read_bytes(), path
    for path in sorted(rendered_paths()):
        assert (project / path).read_bytes() == (baked["defaults"] / path).read_bytes(), path
    tracked = {path for path in files if not is_template_only(path)}
    assert executables(project, files) == executables(snapshot, tracked)


def test_a_git_source_is_cloned_at_its_commit_not_read_from_the_working_tree(
    bake: Bake, snapshot: Path, tmp_path: Path
) -> None:
    # An uncommitted file of the source repository must not reach a project made from its URL.
    stray = snapshot / "uncommitted.txt"
    stray.write_text("not committed\n", encoding="utf-8")
    try:
        project = bake(tmp_path, f"git+file://{snapshot}")
    finally:
        stray.unlink()
    assert not (project / "uncommitted.txt").exists()
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=snapshot, capture_output=True, text=True, check=True
    )
    assert status.stdout == ""
