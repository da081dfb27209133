"""The demo's HTTP client for the services' public API, and what the order service answered."""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from scripts.progress import Progress
from scripts.workload import PlannedRequest


@dataclass(frozen=True)
class Answer:
    """A response: status, the decoded JSON body (or the raw text), and the trace it joined."""

    status: int
    body: Any
    trace_id: str


class ShopClient:
    """`POST /orders` and cancellations on the order service, `/stock/{sku}` on the inventory
    service."""

    def __init__(self, order_url: str, inventory_url: str) -> None:
        self.order_url = order_url
        self.inventory_url = inventory_url
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))

    async def close(self) -> None:
        """Close the connections."""
        await self._session.close()

    async def place_order(self, body: bytes) -> Answer:
        """POST a raw body as JSON, as the root of a new trace whose id the answer carries."""
        trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
        headers = {
            "Content-Type": "application/json",
            # Sampled: the services' parent-based sampler records the whole trace.
            "traceparent": f"00-{trace_id}-{parent_id}-01",
        }
        async with self._session.post(
            f"{self.order_url}/orders", data=body, headers=headers
        ) as response:
            return Answer(response.status, await _body(response), trace_id)

    async def cancel(self, order_id: str) -> int:
        """POST a cancellation; the status (202 when it started the cancellation)."""
        async with self._session.post(f"{self.order_url}/orders/{order_id}/cancel") as response:
            await _body(response)
            return response.status

    async def set_stock(self, sku: str, available: int) -> None:
        """PUT a SKU's stock."""
        async with self._session.put(
            f"{self.inventory_url}/stock/{sku}", json={"available": available}
        ) as response:
            await _expect(response, 200)

    async def stock(self, sku: str) -> int:
        """GET a SKU's available units."""
        async with self._session.get(f"{self.inventory_url}/stock/{sku}") as response:
            body = await _expect(response, 200)
            return int(body["available"])


async def _body(response: aiohttp.ClientResponse) -> Any:
    text = await response.text()
    try:
        return json.loads(text)
    except ValueError:
        return text


class ShopError(Exception):
    """A service answered a request the demo needs with an unexpected status."""


async def _expect(response: aiohttp.ClientResponse, status: int) -> Any:
    body = await _body(response)
    if response.status != status:
        raise ShopError(
            f"{response.method} {response.url} answered {response.status}: {body}")
    return body


@dataclass
class Placed:
    """What the order service answered to the demo's requests."""

    accepted: dict[str, dict[str, int]] = field(default_factory=dict)  # order id -> lines
    trace_ids: dict[str, str] = field(default_factory=dict)  # order id -> trace id sent
    refused: list[tuple[PlannedRequest, int, str]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


async def place_all(shop: ShopClient, requests: Sequence[PlannedRequest]) -> Placed:
    """Send every request in turn, with a progress line."""
    placed = Placed()
    progress = Progress(sys.stdout)
    for number, request in enumerate(requests, start=1):
        answer = await shop.place_order(request.body)
        body = answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
        if answer.status == 201 and request.items is not None:
            order_id = str(answer.body["order_id"])
            placed.accepted[order_id] = request.items
            placed.trace_ids[order_id] = answer.trace_id
        elif 400 <= answer.status < 500:
            placed.refused.append((request, answer.status, body))
            if request.valid:
                placed.unexpected.append(f"{request.label} was refused: {answer.status} {body}")
        else:
            placed.unexpected.append(f"{request.label} got {answer.status}: {body}")
        text = (f"  {number}/{len(requests)} requests: {len(placed.accepted)} accepted (201), "
                f"{len(placed.refused)} refused (4xx), {len(placed.unexpected)} unexpected")
        progress.update(text, force=number % 10 == 0)
    progress.done(text)
    return placed
