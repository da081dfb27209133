"""After cookiecutter has rendered the configuration files: add the code, drop unchosen options.

The new project gets every file git would track in the template's repository, except the
template's own machinery and the files cookiecutter has just rendered from the template
directory; then the files of the relay modes not chosen are removed (template_hooks/manifest.py).

This script holds no Jinja. While cookiecutter renders it, the template's extension
(template_hooks/extension.py) replaces the CONTEXT_JSON line with the answers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CONTEXT_JSON = "{}"


def main() -> int:
    """Complete the project in the working directory (where cookiecutter runs this hook)."""
    context = json.loads(CONTEXT_JSON)
    if "_template_root" not in context:
        print("error: run this hook through cookiecutter, not on its own", file=sys.stderr)
        return 1
    template_root = Path(context["_template_root"])
    if not (template_root / "cookiecutter.json").is_file():
        print(f"error: {template_root} is not this template's repository", file=sys.stderr)
        return 1
    sys.path.insert(0, str(template_root))
    from template_hooks.manifest import removed_for
    from template_hooks.tree import copy_project_files, remove_paths

    project = Path.cwd()
    copy_project_files(template_root, project)
    remove_paths(project, removed_for(context["relay_mode"]))
    print(f"{project.name}: ready. Next: cd {project} && make demo (then make test)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
