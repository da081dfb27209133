"""The order request model refuses bad input with an error that names the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.order.models import PlaceOrder
from shared.web import validation_errors

GOOD: dict[str, Any] = {"customer_id": "cust-1", "items": [{"sku": "SKU-1", "quantity": 2}]}


def test_a_good_order_is_accepted() -> None:
    order = PlaceOrder.model_validate(GOOD)
    assert order.items[0].sku == "SKU-1"
    assert order.items[0].quantity == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"items": GOOD["items"]}, "customer_id"),
        ({**GOOD, "customer_id": ""}, "customer_id"),
        ({**GOOD, "customer_id": "x" * 65}, "customer_id"),
        ({**GOOD, "customer_id": "a'; DROP TABLE orders;--"}, "customer_id"),
        ({**GOOD, "items": []}, "items"),
        ({**GOOD, "items": "SKU-1"}, "items"),
        ({**GOOD, "items": [{"sku": "SKU-1", "quantity": 0}]}, "items.0.quantity"),
        ({**GOOD, "items": [{"sku": "SKU-1", "quantity": -3}]}, "items.0.quantity"),
        ({**GOOD, "items": [{"sku": "SKU-1", "quantity": 10**9}]}, "items.0.quantity"),
        ({**GOOD, "items": [{"sku": "SKU-1", "quantity": "2"}]}, "items.0.quantity"),
        ({**GOOD, "items": [{"sku": "SKU-1", "quantity": 1.5}]}, "items.0.quantity"),
        ({**GOOD, "items": [{"sku": "sku lower", "quantity": 1}]}, "items.0.sku"),
        ({**GOOD, "items": [{"sku": "SKU-1", "quantity": 1, "price": 3}]}, "items.0.price"),
        ({**GOOD, "items": [{"sku": f"SKU-{n}", "quantity": 1} for n in range(101)]}, "items"),
        ({**GOOD, "items": [{"sku": "SKU-1", "quantity": 1}] * 2}, "items"),
        ({**GOOD, "coupon": "FREE"}, "coupon"),
    ],
)
def test_bad_input_names_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        PlaceOrder.model_validate(body)
    fields = [error["field"] for error in validation_errors(caught.value)]
    assert field in fields


def test_unknown_fields_are_refused_with_a_hint() -> None:
    with pytest.raises(ValidationError) as caught:
        PlaceOrder.model_validate({**GOOD, "coupon": "FREE"})
    assert validation_errors(caught.value) == [
        {"field": "coupon", "problem": "unknown field; remove it"}
    ]


def test_the_fingerprint_tells_different_requests_apart() -> None:
    same = PlaceOrder.model_validate(GOOD)
    other = PlaceOrder.model_validate({**GOOD, "items": [{"sku": "SKU-1", "quantity": 3}]})
    assert same.fingerprint() == PlaceOrder.model_validate(GOOD).fingerprint()
    assert same.fingerprint() != other.fingerprint()
