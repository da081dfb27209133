"""The template directory rendered: equal to the root's files with the defaults, and the hooks
rendered by cookiecutter are themselves plus the answers."""

from __future__ import annotations

import ast
import difflib
import json
import re
import tomllib
from pathlib import Path

import pytest
from cookiecutter.utils import create_env_with_context

from template_hooks.extension import PLACEHOLDER
from tests.template.conftest import ROOT, Bake, rendered_paths

# The root README may hold one block about the template itself (how to generate a project, how to
# maintain the template); generated READMEs do not, so it is left out of the comparison.
# The block goes with the blank line that follows it.
TEMPLATE_ONLY_BLOCK = re.compile(r"<!-- template-only -->\n.*?<!-- /template-only -->\n\n?", re.S)


@pytest.fixture(scope="module")
def rendered_with_defaults(bake: Bake, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template directory rendered with the default answers, hooks off."""
    return bake(tmp_path_factory.mktemp("render-defaults"), ROOT, hooks=False)


@pytest.mark.parametrize("path", sorted(rendered_paths()))
def test_root_file_is_the_template_rendered_with_defaults(
    rendered_with_defaults: Path, path: str
) -> None:
    assert (ROOT / path).is_file(), f"{path} is rendered by the template but missing at the root"
    root = (ROOT / path).read_text("utf-8")
    if path == "README.md":
        root = TEMPLATE_ONLY_BLOCK.sub("", root, count=1)
    rendered = (rendered_with_defaults / path).read_text("utf-8")
    diff = "".join(
        difflib.unified_diff(
            root.splitlines(keepends=True),
            rendered.splitlines(keepends=True),
            fromfile=f"root/{path}",
            tofile=f"template/{path} rendered with the defaults",
        )
    )
    assert not diff, f"edit the template's {path} (or the root's) so they agree:\n{diff}"


def test_rendered_files_hold_no_jinja_left(rendered_with_defaults: Path) -> None:
    # The template writes its expressions as `{{ x }}`; pyproject.toml keeps the name of the
    # template directory (its braces hold no spaces) in the excludes of ruff and mypy.
    for path in sorted(rendered_paths()):
        text = (rendered_with_defaults / path).read_text("utf-8")
        assert not re.search(r"[{][{] |[{]%|[{]#|[|] toml", text), path


@pytest.mark.parametrize("python", ["3.11", "3.12", "3.13"])
def test_python_version_reaches_every_place_that_names_it(
    bake: Bake, tmp_path: Path, python: str
) -> None:
    project = bake(tmp_path, ROOT, hooks=False, python_version=python)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text("utf-8"))
    assert pyproject["project"]["requires-python"] == f">={python}"
    # The code is the same in every project, written for the oldest Python offered: ruff keeps
    # it that way (py312 would ask for PEP 695 generics, which 3.11 cannot run).
    assert pyproject["tool"]["ruff"]["target-version"] == "py311"
    assert pyproject["tool"]["mypy"]["python_version"] == python
    assert f'python-version: "{python}"' in (project / ".github/workflows/ci.yml").read_text()
    if (project / "Dockerfile").exists():
        assert f"python:{python}." in (project / "Dockerfile").read_text()


@pytest.mark.parametrize("hook", ["pre_gen_project.py", "post_gen_project.py"])
@pytest.mark.parametrize("repo_dir", ["absolute", "relative"])
def test_hook_renders_to_itself_with_the_answers_in_place(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hook: str, repo_dir: str
) -> None:
    source = (ROOT / "hooks" / hook).read_text("utf-8")
    assert not re.search(r"[{][{]|[{]%|[{]#", source), "cookiecutter would render Jinja in a hook"
    assert PLACEHOLDER in source
    answers = json.loads((ROOT / "cookiecutter.json").read_text("utf-8"))
    answers["project_name"] = "Quote ' and \" and \\ and ✓"
    # cookiecutter renders hooks with the template repository as the working directory, while
    # `_repo_dir` may be relative to where it was started.
    monkeypatch.chdir(ROOT)
    answers["_repo_dir"] = str(ROOT) if repo_dir == "absolute" else "../" + ROOT.name
    context = {"cookiecutter": answers}

    rendered = create_env_with_context(context).from_string(source).render(**context)

    line = next(line for line in rendered.splitlines() if line.startswith("CONTEXT_JSON = "))
    assert rendered.replace(line, PLACEHOLDER) == source
    given = json.loads(ast.literal_eval(line.removeprefix("CONTEXT_JSON = ")))
    assert given["project_name"] == answers["project_name"]
    assert given["_template_root"] == str(ROOT)
