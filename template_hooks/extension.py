"""Jinja extensions that cookiecutter loads for this template (`_extensions` in cookiecutter.json).

cookiecutter renders each hook script as a Jinja template, then runs it in a subprocess whose
working directory is the new project; nothing else reaches the hook. Our hooks hold no Jinja, so
that ruff and mypy check them as they are: `HookContext` turns their one placeholder line into
the answers while cookiecutter renders them.
"""

from __future__ import annotations

import json
import os

from jinja2 import Environment, pass_context
from jinja2.ext import Extension
from jinja2.runtime import Context

# A hook holds this line verbatim; the rendered hook holds the answers there instead.
PLACEHOLDER = 'CONTEXT_JSON = "{}"'


@pass_context
def hook_context(context: Context) -> str:
    """The cookiecutter answers, plus `_template_root`, as a Python literal of a JSON string."""
    answers = dict(context["cookiecutter"])
    repo_dir = str(answers.get("_repo_dir", ""))
    # `_repo_dir` may be relative to the directory cookiecutter was started from, which the hook
    # cannot know. cookiecutter renders and runs hooks with the template repository as its own
    # working directory (hooks.run_hook_from_repo_dir), so that is the absolute path.
    answers["_template_root"] = repo_dir if os.path.isabs(repo_dir) else os.getcwd()
    return repr(json.dumps(answers, sort_keys=True, default=str))


class HookContext(Extension):
    """Hands the answers to the hooks through their placeholder line."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.globals["hook_context"] = hook_context

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        """Replace the placeholder by an expression that renders the answers."""
        if PLACEHOLDER not in source:
            return source
        env = self.environment
        expression = f"{env.variable_start_string} hook_context() {env.variable_end_string}"
        return source.replace(PLACEHOLDER, f"CONTEXT_JSON = {expression}", 1)


_TOML_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def toml_string(value: object) -> str:
    """`value` as a TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for char in str(value):
        if char in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


class TomlString(Extension):
    """The `toml` filter, for answers written into TOML: `description = <answer> | toml`."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["toml"] = toml_string
