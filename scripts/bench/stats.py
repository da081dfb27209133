"""Pure statistics and formatting for the benchmarks: percentiles, median and spread, tables."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank `p`-th percentile (0 < p <= 100): the smallest value with at least
    p% of the values at or below it. p99.9 of 1,000 values is the largest one."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], not {p}")
    ordered = sorted(values)
    # Rounded first: 99.9 / 100 * 1000 is 999.0000000000001 in floating point.
    rank = math.ceil(round(p * len(ordered) / 100, 9))
    return float(ordered[max(rank, 1) - 1])


@dataclass(frozen=True)
class Spread:
    """The median of several runs' figures, and the smallest and largest of them."""

    median: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        """The spread of one figure over runs; raises on no runs."""
        if not values:
            raise ValueError("spread of no runs")
        return cls(float(statistics.median(values)), float(min(values)), float(max(values)),
                   len(values))

    def format(self, digits: int = 0, unit: str = "") -> str:
        """`median (low-high)`, or the single value when there was one run."""
        main = f"{self.median:,.{digits}f}{unit}"
        if self.runs == 1:
            return main
        return f"{main} ({self.low:,.{digits}f}-{self.high:,.{digits}f})"


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, infinite when the denominator is zero."""
    return math.inf if denominator == 0 else numerator / denominator


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table with padded columns (readable on a terminal as it is)."""
    width = len(headers)
    if any(len(row) != width for row in rows):
        raise ValueError(f"every row needs {width} cells")
    sizes = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(n) for c, n in zip(cells, sizes, strict=True)) + " |"

    rule = "| " + " | ".join("-" * n for n in sizes) + " |"
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def verdict(met: bool) -> str:
    """`met` or `MISSED`."""
    return "met" if met else "MISSED"
