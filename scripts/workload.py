"""What the demo sends: the stock it seeds, and its orders, valid and invalid (pure)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

# Units seeded per product. Each run gets SKUs of its own (`MUG-<run tag>`): events an earlier,
# interrupted run left on the way would otherwise take stock from this run's count.
PRODUCTS = {"MUG": 30, "TEE": 20, "CAP": 12, "SOCKS": 25, "POSTER": 6}

# Each is refused by the order service with a 4xx before anything is written.
INVALID_REQUESTS: list[tuple[str, bytes]] = [
    ("quantity as a string",
     b'{"customer_id": "demo-c1", "items": [{"sku": "MUG", "quantity": "2"}]}'),
    ("unknown field",
     b'{"customer_id": "demo-c1", "items": [{"sku": "MUG", "quantity": 1}], '
     b'"coupon": "FREE"}'),
    ("SQL in a SKU",
     b'{"customer_id": "demo-c1", "items": [{"sku": "MUG\'; DROP TABLE orders;--", '
     b'"quantity": 1}]}'),
    ("not JSON", b"customer_id=demo-c1&sku=MUG&quantity=1"),
]


def seed_stock(run_tag: str) -> dict[str, int]:
    """The SKUs of one run and the units each starts with."""
    return {f"{product}-{run_tag}": units for product, units in PRODUCTS.items()}


@dataclass(frozen=True)
class PlannedRequest:
    """One `POST /orders`: its body, and the SKU quantities when it is a valid order."""

    label: str
    body: bytes
    items: dict[str, int] | None  # None: the API must refuse it

    @property
    def valid(self) -> bool:
        """Whether the order service should accept it (201)."""
        return self.items is not None


def plan_requests(
    orders: int, stock: dict[str, int], *, seed: int = 7, oversized_every: int = 9
) -> list[PlannedRequest]:
    """`orders` valid orders of one or two lines, every `oversized_every`-th asking for more
    than there is of a SKU (inventory rejects it), with the invalid requests spread among them.
    """
    rng = random.Random(seed)
    skus = sorted(stock)
    planned: list[PlannedRequest] = []
    invalid_every = max(1, orders // len(INVALID_REQUESTS))
    invalid = iter(INVALID_REQUESTS)
    for number in range(1, orders + 1):
        if number % oversized_every == 0:
            sku = rng.choice(skus)
            items = {sku: stock[sku] + rng.randint(1, 10)}
        else:
            items = {sku: rng.randint(1, 3) for sku in rng.sample(skus, rng.randint(1, 2))}
        body = {
            "customer_id": f"demo-c{rng.randint(1, 8)}",
            "items": [{"sku": sku, "quantity": quantity} for sku, quantity in items.items()],
        }
        planned.append(PlannedRequest(f"order {number}", json.dumps(body).encode(), items))
        if number % invalid_every == invalid_every // 2:
            label, raw = next(invalid, ("", b""))
            if label:
                planned.append(PlannedRequest(label, raw, None))
    return planned
