"""Which paths of the repository go into which generated project: the one list to edit.

Everything git would track is copied into a new project, except the template-only paths below;
then the paths of the relay options the user did not choose are removed. Paths are relative to
the repository root, with `/` separators; a pattern may use glob wildcards (`*`, `**`), and a
directory stands for everything under it.
"""

from __future__ import annotations

from typing import Final

# The template's own machinery, never copied into a generated project.
TEMPLATE_ONLY: Final = (
    "cookiecutter.json",
    "hooks",
    "template_hooks",
    "tests/template",
    "docs/template.md",
)

# The template directory (cookiecutter finds it by this name between Jinja delimiters). Its files
# are rendered into the new project by cookiecutter itself, so they win over the root's copies.
TEMPLATE_DIR_MARK: Final = "cookiecutter.project_slug"

# Never copied, whatever .gitignore says.
NEVER_COPIED: Final = (".git",)

# The paths that belong to one relay mode. relay_mode "both" keeps all of them; "polling"
# removes the "debezium" and "both" ones, "debezium" the "polling" and "both" ones. The "both"
# paths are those that need the two relays at once (tests that compare them or switch modes).
RELAY_MODE_PATHS: Final[dict[str, tuple[str, ...]]] = {
    "polling": (
        "services/relay",
        "tests/**/test_relay*.py",
        "tests/support/relay.py",
        # The order's trace crosses the polling relay (Debezium makes no spans of its own).
        "tests/integration/test_tracing.py",
    ),
    "debezium": (
        "infra/connect.sh",
        "infra/debezium",
        "infra/compose/connect-*",
        # Deletes what Debezium has published; the polling relay deletes its own.
        "services/outbox_cleanup.py",
        "tests/**/test_debezium*.py",
        "tests/support/debezium.py",
    ),
    "both": (
        "tests/integration/test_debezium_matches_relay.py",
        # The benchmarks measure the polling relay beside Debezium.
        "scripts/bench",
        "tests/unit/test_bench_*.py",
        "BENCHMARKS.md",
    ),
}

RELAY_MODES: Final = ("both", "polling", "debezium")


def removed_for(relay_mode: str) -> tuple[str, ...]:
    """The path patterns a project with this relay mode does not get."""
    if relay_mode not in RELAY_MODES:
        raise ValueError(f"unknown relay_mode {relay_mode!r}; expected one of {RELAY_MODES}")
    return tuple(
        pattern
        for mode, patterns in RELAY_MODE_PATHS.items()
        if relay_mode not in ("both", mode)
        for pattern in patterns
    )
