"""Before cookiecutter writes any file: refuse answers the new project could not use.

This script holds no Jinja. While cookiecutter renders it, the template's extension
(template_hooks/extension.py) replaces the CONTEXT_JSON line with the answers.
"""

from __future__ import annotations

import json
import sys

CONTEXT_JSON = "{}"


def main() -> int:
    """Print what to type instead of each unusable answer; 1 when there was one."""
    context = json.loads(CONTEXT_JSON)
    if "_template_root" not in context:
        print("error: run this hook through cookiecutter, not on its own", file=sys.stderr)
        return 1
    # The rules live in the template's repository, the one cookiecutter was given.
    sys.path.insert(0, context["_template_root"])
    from template_hooks.answers import problems

    found = problems(context)
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
