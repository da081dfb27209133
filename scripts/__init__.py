"""Scripts the Makefile runs: `python -m scripts.demo` (`make demo`) and the benchmarks."""
