"""Copying the repository into a new project, and removing the options the user did not choose.

"What git would track" is computed from the files, not asked from git: a template given as a
zip archive has no `.git`. The root `.gitignore` decides, as git would read it (comments,
`!` negation, a trailing `/` for directories, a `/` inside a pattern anchoring it to the root,
`*`, `?` and `**`); nested `.gitignore` files are not read.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from template_hooks.manifest import NEVER_COPIED, TEMPLATE_DIR_MARK, TEMPLATE_ONLY


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A regex for a glob on `/`-separated paths: `*` and `?` stay in one segment, `**` spans."""
    out = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            out.append(".*")
            index += 2
        elif pattern[index] == "*":
            out.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            out.append("[^/]")
            index += 1
        else:
            out.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(out))


def matches(path: str, patterns: Iterable[str]) -> bool:
    """True when `path` or one of its parent directories matches one of the patterns."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: end + 1]) for end in range(len(parts))]
    return any(glob_regex(pattern).fullmatch(prefix) for pattern in patterns for prefix in prefixes)


@dataclass(frozen=True)
class IgnoreRule:
    """One line of a .gitignore."""

    regex: re.Pattern[str]
    negated: bool
    directories_only: bool
    anchored: bool

    @classmethod
    def parse(cls, line: str) -> IgnoreRule | None:
        """The rule a .gitignore line states, or None for a blank line or a comment."""
        line = line.rstrip("\n").rstrip(" ")
        if not line or line.startswith("#"):
            return None
        negated = line.startswith("!")
        line = line.removeprefix("!").removeprefix("\\")
        directories_only = line.endswith("/")
        line = line.rstrip("/")
        anchored = "/" in line
        return cls(glob_regex(line.lstrip("/")), negated, directories_only, anchored)

    def applies(self, path: str, is_dir: bool) -> bool:
        """True when this rule's pattern matches `path` (relative, `/`-separated)."""
        if self.directories_only and not is_dir:
            return False
        return bool(self.regex.fullmatch(path if self.anchored else path.rsplit("/", 1)[-1]))


def read_gitignore(root: Path) -> list[IgnoreRule]:
    """The rules of `root/.gitignore` (none when there is no such file)."""
    gitignore = root / ".gitignore"
    if not gitignore.is_file():
        return []
    rules = (IgnoreRule.parse(line) for line in gitignore.read_text("utf-8").splitlines())
    return [rule for rule in rules if rule is not None]


def ignored(path: str, is_dir: bool, rules: Iterable[IgnoreRule]) -> bool:
    """Whether git would ignore `path`: the last rule that matches it decides."""
    verdict = False
    for rule in rules:
        if rule.applies(path, is_dir):
            verdict = not rule.negated
    return verdict


def is_template_only(path: str) -> bool:
    """Whether `path` belongs to the template's machinery rather than to the project."""
    top = path.split("/", 1)[0]
    return TEMPLATE_DIR_MARK in top or matches(path, TEMPLATE_ONLY)


def project_files(root: Path) -> Iterator[str]:
    """Every file (or symlink) under `root` a generated project gets, as relative paths."""
    rules = read_gitignore(root)
    for directory, dirnames, filenames in os.walk(root):
        base = Path(directory).relative_to(root).as_posix()

        def relative(name: str, base: str = base) -> str:
            return name if base == "." else f"{base}/{name}"

        kept_dirs = []
        for name in sorted(dirnames):
            path = relative(name)
            if name in NEVER_COPIED or ignored(path, True, rules) or is_template_only(path):
                continue
            if (Path(directory) / name).is_symlink():
                yield path  # copied as the link it is, never followed
            else:
                kept_dirs.append(name)
        dirnames[:] = kept_dirs
        for name in sorted(filenames):
            path = relative(name)
            if name in NEVER_COPIED or ignored(path, False, rules) or is_template_only(path):
                continue
            yield path


def copy_project_files(root: Path, project: Path) -> list[str]:
    """Copy the project files of `root` into `project`; files already there (rendered) win."""
    inside = project.resolve().is_relative_to(root.resolve())
    # A project generated into the repository itself is not part of what it copies.
    skipped = [project.resolve().relative_to(root.resolve()).as_posix()] if inside else []
    copied = []
    for path in list(project_files(root)):
        if matches(path, skipped):
            continue
        source, target = root / path, project / path
        if target.exists() or target.is_symlink():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
            make_scripts_executable(target)
        copied.append(path)
    return copied


def make_scripts_executable(path: Path) -> None:
    """Give a file that starts with `#!` the executable bits its read bits allow.

    Every script of the repository is executable; a zip archive extracted by cookiecutter (with
    Python's zipfile) loses the bits, so they are restored from the `#!` line.
    """
    with path.open("rb") as file:
        if file.read(2) != b"#!":
            return
    mode = path.stat().st_mode
    path.chmod(mode | (mode & 0o444) >> 2)


def remove_paths(project: Path, patterns: Iterable[str]) -> list[str]:
    """Delete every file of `project` that matches a pattern, then the directories left empty."""
    patterns = tuple(patterns)
    removed = []
    for directory, dirnames, filenames in os.walk(project):
        links = [name for name in dirnames if (Path(directory) / name).is_symlink()]
        for name in [*filenames, *links]:
            path = (Path(directory) / name).relative_to(project).as_posix()
            if matches(path, patterns):
                (project / path).unlink()
                removed.append(path)
    remove_empty_dirs(project)
    return sorted(removed)


def remove_empty_dirs(project: Path) -> None:
    """Delete the directories under `project` that hold no file (git cannot track them anyway)."""
    for directory, _dirnames, _filenames in os.walk(project, topdown=False):
        path = Path(directory)
        if path != project and not any(path.iterdir()):
            path.rmdir()
