"""Readers for docker-compose.yml, the Dockerfile and .dockerignore, for checks without Docker.

Each mirrors the rule Docker itself applies, as far as this project's files use it: compose
variable interpolation, Dockerfile instructions and stages, .dockerignore matching.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from dotenv import dotenv_values

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
ENV_EXAMPLE = REPO / ".env.example"

# `$$` (a literal dollar), `${...}` and `$NAME`, as compose reads them.
_DOLLAR = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)
_BRACED = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?$", re.S)


@dataclass(frozen=True)
class Reference:
    """One `${NAME<op><arg>}` in the compose file."""

    name: str
    op: str | None
    arg: str | None


def env_example() -> dict[str, str]:
    """The settings and defaults of .env.example, parsed as a dotenv file."""
    return {key: value or "" for key, value in dotenv_values(ENV_EXAMPLE).items()}


def compose_text() -> str:
    return COMPOSE_FILE.read_text(encoding="utf-8")


def compose_raw() -> dict[str, Any]:
    """The compose file as YAML gives it (anchors and merge keys applied, nothing else)."""
    document = yaml.safe_load(compose_text())
    assert isinstance(document, dict)
    return document


def references(text: str) -> list[Reference]:
    """Every variable reference in `text`; a malformed `${...}` fails the calling test."""
    found = []
    for match in _DOLLAR.finditer(text):
        if match["escaped"]:
            continue
        if match["bare"]:
            found.append(Reference(match["bare"], None, None))
            continue
        parsed = _BRACED.match(match["braced"])
        assert parsed, f"malformed variable reference ${{{match['braced']}}}"
        found.append(Reference(parsed["name"], parsed["op"], parsed["arg"]))
    return found


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """`value` with variables substituted as `docker compose` does with `env` as its `.env`."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        reference = references(match[0])[0]
        current = env.get(reference.name)
        if reference.op in (":-", "-"):
            unset = current is None or (reference.op == ":-" and current == "")
            return (reference.arg or "") if unset else (current or "")
        assert reference.op is None, f"unsupported interpolation {match[0]}"
        return current or ""

    return _DOLLAR.sub(substitute, value)


def compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    """The compose file as `docker compose config` would resolve it with `env` as `.env`."""
    resolved = interpolate(compose_raw(), env_example() if env is None else env)
    assert isinstance(resolved, dict)
    return resolved


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    """A service's `environment:` as a mapping (both compose spellings)."""
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.split("=", 1) for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


@dataclass
class Stage:
    """One `FROM ... [AS name]` of the Dockerfile and the instructions after it."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        """The arguments of every `keyword` instruction in this stage."""
        return [args for found, args in self.instructions if found == keyword]


@dataclass
class Dockerfile:
    """The Dockerfile's global ARG defaults and its stages, in order."""

    args: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        matches = [stage for stage in self.stages if stage.name == name]
        assert matches, f"the Dockerfile has no stage {name!r}"
        return matches[0]

    def resolve(self, text: str, stage: Stage | None = None) -> str:
        """`text` with `$NAME` / `${NAME}` replaced by ARG defaults (global, then the stage's)."""
        known = dict(self.args)
        for args in stage.all("ARG") if stage else []:
            name, _, default = args.partition("=")
            known[name] = default
        return re.sub(
            r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda match: known.get(match[1], match[0]), text
        )


def dockerfile() -> Dockerfile:
    """Parse the Dockerfile: comments and line continuations as BuildKit reads them."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue  # comments and blank lines also inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"

    parsed = Dockerfile(args={}, stages=[])
    for instruction in logical:
        keyword, _, args = instruction.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            parsed.stages.append(Stage(base=words[0], name=name))
        elif not parsed.stages:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            name, _, default = args.partition("=")
            parsed.args[name] = default
        else:
            parsed.stages[-1].instructions.append((keyword, args))
    return parsed


def copy_parts(args: str) -> tuple[dict[str, str], list[str], str]:
    """A COPY / ADD instruction's `--flags`, its sources and its destination."""
    words = shlex.split(args)
    flags = dict(word[2:].partition("=")[::2] for word in words if word.startswith("--"))
    paths = [word for word in words if not word.startswith("--")]
    return flags, paths[:-1], paths[-1]


def _pattern(glob: str) -> re.Pattern[str]:
    out = ""
    index = 0
    while index < len(glob):
        if glob.startswith("**/", index):
            out, index = out + "(?:.*/)?", index + 3
        elif glob.startswith("**", index):
            out, index = out + ".*", index + 2
        elif glob[index] == "*":
            out, index = out + "[^/]*", index + 1
        elif glob[index] == "?":
            out, index = out + "[^/]", index + 1
        else:
            out, index = out + re.escape(glob[index]), index + 1
    return re.compile(out)


def dockerignore_excludes(path: str) -> bool:
    """Whether .dockerignore keeps `path` (relative to the repository) out of the context.

    Docker's rule: the last pattern matching the path, or one of its parent folders, decides;
    `!` re-includes.
    """
    excluded = False
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: count + 1]) for count in range(len(parts))]
    for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = _pattern(line.lstrip("!").strip("/"))
        if any(pattern.fullmatch(candidate) for candidate in candidates):
            excluded = not negated
    return excluded
