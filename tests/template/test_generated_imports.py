"""Each relay mode's project imports nothing that it does not have: every module of its own
test suite imports, and its unit tests pass.

They run with this venv's Python from inside a copy of the baked project, as its `make test`
would, but without infrastructure. This venv has the repository installed in editable mode, and
that import hook would find `services.relay` for a project that has none; the runs drop it, and
fail if any module of the project was still loaded from elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.template.conftest import CASES

# One case of the matrix per relay mode.
MODES: dict[str, str] = {}
for _case, _answers in CASES.items():
    MODES.setdefault(_answers.get("relay_mode", "both"), _case)

# In the project's directory: the unit tests with pytest, then an import of every other module
# under tests/ (what collecting them would import), without the editable install's import hook;
# then a check that no module of the project's own packages came from outside the project.
RUNNER = """
import importlib, os, pathlib, sys, traceback
sys.meta_path[:] = [
    finder for finder in sys.meta_path
    if not getattr(finder, "__module__", "").startswith("__editable__")
]
import pytest
failed = int(pytest.main(["-q", "-p", "no:cacheprovider", "tests/unit"]))
for path in sorted(pathlib.Path("tests").rglob("*.py")):
    name = ".".join(path.with_suffix("").parts).removesuffix(".__init__")
    try:
        importlib.import_module(name)
    except Exception:
        print(f"cannot import {name}:", traceback.format_exc(), sep="\\n")
        failed = failed or 2
root = os.getcwd() + os.sep
outside = sorted(
    f"{name} from {module.__file__}"
    for name, module in list(sys.modules.items())
    if name.partition(".")[0] in {"services", "shared", "scripts", "tests"}
    and getattr(module, "__file__", None)
    and not module.__file__.startswith(root)
)
if outside:
    print("loaded from outside the project:", *outside, sep="\\n  ")
sys.exit(failed or (3 if outside else 0))
"""
TIMEOUT = 300


def project_env(project: Path) -> dict[str, str]:
    """This environment, with the project first on the path and nothing of this pytest run."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "PYTHON", "MYPY", "COV_"))
    }
    return {**env, "PYTHONPATH": str(project), "PYTHONDONTWRITEBYTECODE": "1"}


@pytest.fixture(scope="module")
def runs(
    baked: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, subprocess.Popen[str]]]:
    """One run per relay mode, all started at once; each test waits for its own."""
    started = {}
    for mode, case in MODES.items():
        # A copy: nothing a run writes reaches the bake the other tests look at.
        project = tmp_path_factory.mktemp(f"imports-{mode}") / baked[case].name
        shutil.copytree(baked[case], project, symlinks=True)
        started[mode] = subprocess.Popen(
            [sys.executable, "-c", RUNNER],
            cwd=project,
            env=project_env(project),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    yield started
    for process in started.values():
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("mode", MODES)
def test_the_projects_tests_import_and_its_unit_tests_pass(
    runs: dict[str, subprocess.Popen[str]], mode: str
) -> None:
    process = runs[mode]
    output, _ = process.communicate(timeout=TIMEOUT)

    assert process.returncode == 0, f"relay_mode={mode}\n{output}"
