"""The services' shared entry point (`shared.cli.run_worker`)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from shared.cli import GC_YOUNG_THRESHOLD


def test_a_service_runs_with_its_startup_objects_frozen_and_fewer_young_collections() -> None:
    # In a process of its own: run_worker installs uvloop and changes the collector for good.
    script = textwrap.dedent("""
        import gc
        from shared.cli import run_worker

        class App:
            def main(self):
                print(gc.get_threshold()[0], gc.get_freeze_count() > 0)

        run_worker(App)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True, timeout=60)
    assert result.stdout.split() == [str(GC_YOUNG_THRESHOLD), "True"]
