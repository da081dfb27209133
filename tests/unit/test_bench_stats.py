"""The benchmark's pure pieces: percentiles, median and spread, table formatting, stages."""

from __future__ import annotations

import math
import uuid

import pytest

from scripts.bench.e2e import STAGES, stage_durations
from scripts.bench.stats import Spread, format_table, percentile, ratio, verdict


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile(values, 99.9) == 100


def test_percentile_ignores_input_order_and_handles_one_value() -> None:
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0
    assert percentile([7.0], 99.9) == 7.0


def test_p999_is_exact_despite_floating_point() -> None:
    assert percentile(list(range(1000)), 99.9) == 998
    assert percentile(list(range(10_000)), 99.9) == 9989


@pytest.mark.parametrize("p", [0, -1, 100.1])
def test_percentile_refuses_out_of_range(p: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        percentile([1.0], p)


def test_percentile_refuses_no_values() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_spread_is_median_min_max() -> None:
    spread = Spread.of([30.0, 10.0, 20.0])
    assert (spread.median, spread.low, spread.high, spread.runs) == (20.0, 10.0, 30.0, 3)
    assert Spread.of([1.0, 2.0, 3.0, 10.0]).median == 2.5


def test_spread_formats_with_and_without_range() -> None:
    assert Spread.of([1000.0, 1500.0, 12000.0]).format() == "1,500 (1,000-12,000)"
    assert Spread.of([0.25]).format(2, " ms") == "0.25 ms"


def test_spread_refuses_no_runs() -> None:
    with pytest.raises(ValueError, match="no runs"):
        Spread.of([])


def test_ratio_and_verdict() -> None:
    assert ratio(9, 10) == 0.9
    assert math.isinf(ratio(1, 0))
    assert verdict(True) == "met"
    assert verdict(False) == "MISSED"


def test_table_pads_columns() -> None:
    table = format_table(["what", "n"], [["relay", "10"], ["e2e", "1,000"]])
    assert table.splitlines() == [
        "| what  | n     |",
        "| ----- | ----- |",
        "| relay | 10    |",
        "| e2e   | 1,000 |",
    ]


def test_table_refuses_ragged_rows() -> None:
    with pytest.raises(ValueError, match="2 cells"):
        format_table(["a", "b"], [["only one"]])


def test_stage_durations_split_each_orders_latency_and_skip_orders_missing_a_stamp() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    committed = {first: 10.000, second: 10.010}
    published = {str(first): 10.030}  # the second was never marked (as under Debezium)
    started = {first: 10.050, second: 10.060}
    stocked = {first: 10.052, second: 10.070}

    stages = stage_durations(committed, published, started, stocked)

    assert list(stages) == list(STAGES)
    assert [round(stages[name][0], 3) for name in STAGES] == [30.0, 20.0, 2.0]
    assert all(len(durations) == 1 for durations in stages.values())
    assert stage_durations(committed, {}, started, stocked) == {}
