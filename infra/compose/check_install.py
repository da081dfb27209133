"""Check an installed copy of the project; the Dockerfile runs it after `pip install`.

    python -I infra/compose/check_install.py SOURCE_DIR

Imports `services.migrate` and the app module of every service that has a `__main__`, and finds
each migration file of SOURCE_DIR in the installed package, so that an image which could not
start a service or migrate its database fails to build instead of failing at `docker compose
up`. Run it with -I: the working directory then stays off sys.path, and the imports see the
installed package rather than the sources beside it.
"""

from __future__ import annotations

import importlib
import sys
from importlib import resources
from pathlib import Path


def problems(source: Path) -> list[str]:
    """What the installed `services` package lacks compared with the sources in `source`."""
    found = []
    services = sorted(path.parent.name for path in source.glob("services/*/__main__.py"))
    for module in ["services.migrate", *(f"services.{name}.app" for name in services)]:
        try:
            importlib.import_module(module)
        except ImportError as error:
            found.append(f"cannot import {module}: {error}")
    installed = resources.files("services")
    for sql in sorted(source.glob("services/*/migrations/*.sql")):
        relative = sql.relative_to(source / "services").as_posix()
        if not installed.joinpath(relative).is_file():
            found.append(f"migration services/{relative} is not installed")
    if not services:
        found.append(f"no services found under {source}")
    return found


def main(argv: list[str]) -> int:
    """Entry point; prints each problem and returns 1 if there is any."""
    if len(argv) != 2:
        print(f"usage: python -I {argv[0]} SOURCE_DIR", file=sys.stderr)
        return 2
    found = problems(Path(argv[1]))
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
