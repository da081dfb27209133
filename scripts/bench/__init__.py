"""Benchmarks of the relay, the inventory service, the whole pipeline and Debezium.

`python -m scripts.bench [--quick] [--only relay,e2e,inventory,debezium]` (or `make bench`).
Each figure is the median of several runs with the spread (min-max); see BENCHMARKS.md.
"""
