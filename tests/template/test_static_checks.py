"""Every baked project passes ruff and mypy with its own configuration."""

from __future__ import annotations

import subprocess
from concurrent.futures import Future

import pytest

from tests.template.conftest import CASES

Checks = dict[str, Future[list[subprocess.CompletedProcess[str]]]]


@pytest.mark.parametrize("case", CASES)
def test_ruff_and_mypy_pass(static_checks: Checks, case: str) -> None:
    for result in static_checks[case].result(timeout=600):
        assert result.returncode == 0, f"{result.args}\n{result.stdout}{result.stderr}"
