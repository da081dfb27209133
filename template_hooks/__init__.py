"""The cookiecutter side of this repository: the code behind `hooks/`, left out of new projects.

The project at the repository root is what the template produces from its defaults. A new
project gets the rendered configuration files of the template directory (the one named after
`cookiecutter.project_slug`) plus a copy of everything else git would track here, minus the
template-only paths and the options the user did not choose (`manifest.py`). See
docs/template.md.
"""
