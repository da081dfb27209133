"""One source of truth: Python code exists once, at the root, and holds no Jinja."""

from __future__ import annotations

import re
import subprocess

from tests.template.conftest import ROOT, TEMPLATE_DIR, files_of

# What the template directory may hold: configuration and documentation, never code.
ALLOWED_SUFFIXES = {".toml", ".yml", ".yaml", ".md", ".example", ".txt", ".json", ".properties"}
ALLOWED_NAMES = {"LICENSE", "Dockerfile", "Makefile"}

# Jinja as cookiecutter templates write it: a `cookiecutter.` variable, a statement, a comment.
JINJA = re.compile(r"[{][{]-?\s*cookiecutter[.]|[{]%-?\s+\w+|[{]#")


def root_python_files() -> list[str]:
    """Every .py file git would track here, the template's own hooks included."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(path for path in listed.split("\0") if path and (ROOT / path).is_file())


def test_template_directory_holds_no_code() -> None:
    for path in sorted(files_of(TEMPLATE_DIR)):
        name = path.rsplit("/", 1)[-1]
        suffix = name[name.rfind(".") :] if "." in name[1:] else ""
        assert name in ALLOWED_NAMES or suffix in ALLOWED_SUFFIXES, f"{path} looks like code"
        first_line = (TEMPLATE_DIR / path).read_text("utf-8").split("\n", 1)[0]
        assert not first_line.startswith("#!"), f"{path} is a script"


def test_no_root_python_file_is_copied_into_the_template_directory() -> None:
    sources = [(ROOT / path).read_text("utf-8").strip() for path in root_python_files()]
    sources = [source for source in sources if source.count("\n") >= 3]
    for path in sorted(files_of(TEMPLATE_DIR)):
        text = (TEMPLATE_DIR / path).read_text("utf-8")
        assert not [source for source in sources if source in text], path


def test_no_python_file_holds_jinja() -> None:
    python_files = root_python_files()
    assert "hooks/post_gen_project.py" in python_files
    offenders = [path for path in python_files if JINJA.search((ROOT / path).read_text("utf-8"))]
    assert offenders == []
