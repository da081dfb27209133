"""`python -m shared.events`: regenerate the JSON Schema files in `schemas/`."""

import sys

from shared.events.schemas import write_schemas

if __name__ == "__main__":
    for written in write_schemas():
        sys.stdout.write(f"wrote {written}\n")
