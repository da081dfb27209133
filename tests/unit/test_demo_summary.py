"""The demo's arithmetic: what must add up, and how the summary says it."""

from __future__ import annotations

import io
import json

from scripts.progress import Progress
from scripts.summary import (
    DemoResult,
    PipelineCounts,
    expected_reserved,
    reason_kind,
    render_summary,
)
from scripts.trace_report import pick_order
from scripts.workload import INVALID_REQUESTS, PRODUCTS, plan_requests, seed_stock

SETTLED = PipelineCounts(written=3, published=3, distinct_published=3, consumed=3, marked=3)


def result(**changes: object) -> DemoResult:
    base = DemoResult(
        accepted={"o1": {"MUG": 2, "TEE": 1}, "o2": {"MUG": 1}, "o3": {"TEE": 50}},
        refused=[(422, '{"errors": []}'), (400, '{"errors": []}')],
        outcomes={"o1": ("reserved", None), "o2": ("reserved", None),
                  "o3": ("rejected", "not enough stock for TEE: 4 available, 50 wanted")},
        counts=SETTLED,
        stock_before={"MUG": 10, "TEE": 5},
        stock_after={"MUG": 7, "TEE": 4},
        reserved_lines={"MUG": 3, "TEE": 1},
    )
    for name, value in changes.items():
        setattr(base, name, value)
    return base


def test_a_run_that_adds_up_has_no_problems() -> None:
    assert result().problems() == []
    assert SETTLED.problems(expected_written=3) == []


def test_events_must_be_written_published_and_consumed_once_each() -> None:
    lagging = PipelineCounts(written=3, published=3, distinct_published=3, consumed=2, marked=3)
    duplicated = PipelineCounts(written=3, published=4, distinct_published=3, consumed=3)
    unmarked = PipelineCounts(written=3, published=3, distinct_published=3, consumed=3, marked=1)

    assert lagging.problems(expected_written=3) == ["3 events published but 2 consumed"]
    assert duplicated.problems(expected_written=3) == [
        "3 outbox rows written but 4 published",
        "1 duplicate records on the topic",
        "4 events published but 3 consumed",
    ]
    assert unmarked.problems(expected_written=3) == ["3 outbox rows written but 1 marked published"]
    assert result(counts=lagging).problems() == ["3 events published but 2 consumed"]
    assert result(accepted={}, outcomes={}, reserved_lines={}, stock_after={"MUG": 10, "TEE": 5}
                  ).problems() == ["0 orders accepted but 3 outbox rows"]


def test_without_a_polling_relay_nothing_is_marked_and_that_is_fine() -> None:
    debezium = PipelineCounts(written=3, published=3, distinct_published=3, consumed=3)

    assert debezium.problems(expected_written=3) == []
    assert "marked" not in debezium.progress()


def test_stock_must_fall_by_what_was_reserved_as_the_reserved_orders_asked() -> None:
    assert expected_reserved(result().accepted, result().outcomes) == {"MUG": 3, "TEE": 1}

    [problem] = result(stock_after={"MUG": 6, "TEE": 4}).problems()
    assert problem == ("MUG: stock went from 10 to 6 (-4) but 3 units are reserved and the "
                       "reserved orders asked for 3")
    [problem] = result(reserved_lines={"MUG": 3, "TEE": 2}).problems()
    assert problem.startswith("TEE: stock went from 5 to 4 (-1) but 2 units are reserved")


def test_every_accepted_order_needs_an_outcome() -> None:
    outcomes = {"o1": ("reserved", None), "o2": ("reserved", None)}

    assert result(outcomes=outcomes).problems() == [
        "1 accepted orders have no inventory outcome (first: o3)"]


def test_the_summary_shows_both_kinds_of_refusal_and_the_stock_per_sku() -> None:
    lines = render_summary(result(), topic="order.events")
    words = [" ".join(line.split()) for line in lines]

    assert "accepted by the order service (201) 3" in words
    assert "rejected by inventory 1" in words
    assert "not enough stock for TEE 1" in words
    assert "refused at the API (4xx) 2 (1 x 400, 1 x 422)" in words
    assert "Events (order.events)" in words
    assert "published (records on the topic) 3 (read_committed; 0 duplicates)" in words
    assert "MUG 10 7 -3 3 ok" in words
    counted = [line for line in lines if "accepted by" in line or "rows written" in line]
    assert len({len(line) for line in counted}) == 1  # the numbers line up
    mismatch = render_summary(result(stock_after={"MUG": 1, "TEE": 4}), topic="t")
    assert "MUG 10 1 -9 3 MISMATCH (orders asked for 3)" in [" ".join(line.split())
                                                             for line in mismatch]


def test_reason_kind_drops_the_numbers() -> None:
    assert reason_kind("not enough stock for TEE: 4 available, 50 wanted") == (
        "not enough stock for TEE")
    assert reason_kind(None) == "no reason given"


def test_the_workload_has_orders_too_large_for_the_stock_and_every_invalid_request() -> None:
    stock = seed_stock("7F3A")
    planned = plan_requests(36, stock)

    valid = [request for request in planned if request.valid]
    assert len(valid) == 36
    assert [request.body for request in planned if not request.valid] == [
        body for _, body in INVALID_REQUESTS]
    assert any(quantity > stock[sku]
               for request in valid for sku, quantity in (request.items or {}).items())
    for request in valid:  # the body says what `items` says
        body = json.loads(request.body)
        assert {line["sku"]: line["quantity"] for line in body["items"]} == request.items
    assert plan_requests(36, stock) == planned  # the same every run
    assert sorted(stock) == sorted(f"{product}-7F3A" for product in PRODUCTS)


def test_progress_rewrites_one_line_on_a_terminal() -> None:
    out = io.StringIO()
    progress = Progress(out, tty=True)

    progress.update("1/3 sent, long text")
    progress.update("2/3 sent")
    progress.done("3/3 sent")

    assert out.getvalue() == "\r1/3 sent, long text\r2/3 sent           \r3/3 sent\n"


def test_progress_prints_a_line_now_and_then_in_a_log() -> None:
    now = [0.0]
    out = io.StringIO()
    progress = Progress(out, tty=False, interval=2.0, clock=lambda: now[0])

    progress.update("a")  # the first is shown at once
    progress.update("b")  # too soon
    now[0] = 2.5
    progress.update("c")
    progress.update("c", force=True)  # unchanged: not repeated
    progress.update("d", force=True)
    progress.done("d")  # already shown
    progress.done("e")

    assert out.getvalue() == "a\nc\nd\ne\n"


def test_the_trace_shown_is_of_a_reserved_order_with_the_most_lines() -> None:
    assert pick_order(result()) == "o1"
    assert pick_order(result(outcomes={"o3": ("rejected", "no")})) == "o1"  # the first accepted
    assert pick_order(result(accepted={}, outcomes={})) is None


def test_final_statuses_must_match_inventorys_view_of_each_order() -> None:
    settled = {"o1": "confirmed", "o2": "cancelled", "o3": "rejected"}
    outcomes = {"o1": ("reserved", None), "o2": ("released", None),
                "o3": ("rejected", "not enough stock for TEE: 4 available, 50 wanted")}
    counts = PipelineCounts(written=4, published=4, distinct_published=4, consumed=4, marked=4)
    fine = result(statuses=settled, outcomes=outcomes, cancelled=["o2"], counts=counts,
                  stock_after={"MUG": 8, "TEE": 4}, reserved_lines={"MUG": 2, "TEE": 1})

    assert fine.problems() == []
    assert "    cancelled / released                    1   (order service; inventory: 1)" in (
        render_summary(fine, topic="order.events"))
    stuck = result(statuses={**settled, "o2": "cancelling"}, outcomes=outcomes,
                   cancelled=["o2"], counts=counts, stock_after={"MUG": 8, "TEE": 4},
                   reserved_lines={"MUG": 2, "TEE": 1})
    assert stuck.problems() == [
        "1 orders whose status does not match inventory's view (first: o2 is cancelling, "
        "inventory says released)"]
