"""Reading a service's `GET /metrics` in tests: every sample, by name and labels."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.faust_apps import wait_until


@dataclass(frozen=True)
class Scrape:
    """One answer of `/metrics`: (name, labels, value) of every sample."""

    samples: list[tuple[str, dict[str, str], float]]

    def value(self, name: str, **labels: str) -> float | None:
        """The sum of the samples of `name` whose labels include `labels`; None if none."""
        found = [value for sample, sample_labels, value in self.samples
                 if sample == name and labels.items() <= sample_labels.items()]
        return sum(found) if found else None

    def series(self, name: str, **labels: str) -> list[dict[str, str]]:
        """The label sets of `name`'s samples that include `labels`."""
        return [sample_labels for sample, sample_labels, _value in self.samples
                if sample == name and labels.items() <= sample_labels.items()]


async def scrape(client: httpx.AsyncClient) -> Scrape:
    """`GET /metrics`, parsed as Prometheus would parse it."""
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    samples = [(sample.name, dict(sample.labels), sample.value)
               for family in text_string_to_metric_families(response.text)
               for sample in family.samples]
    return Scrape(samples)


async def place(orders: httpx.AsyncClient, sku: str) -> str:
    """Place an order of one unit of `sku`; its id."""
    response = await orders.post(
        "/orders", json={"customer_id": "c-1", "items": [{"sku": sku, "quantity": 1}]})
    assert response.status_code == 201, response.text
    return str(response.json()["order_id"])


async def all_confirmed(orders: httpx.AsyncClient, order_ids: list[str]) -> bool:
    """Whether every one of the orders is confirmed."""
    for order_id in order_ids:
        if (await orders.get(f"/orders/{order_id}")).json()["status"] != "confirmed":
            return False
    return True


async def until_scraped(client: httpx.AsyncClient, name: str, wanted: float,
                        **labels: str) -> Scrape:
    """Scrape until `name{labels}` reads `wanted`; that scrape."""
    last: list[Scrape] = []

    async def reads_wanted() -> bool:
        last[:] = [await scrape(client)]
        return last[0].value(name, **labels) == wanted

    await wait_until(reads_wanted, within=60, interval=0.2,
                     what=f"{name}{labels} to read {wanted}")
    return last[0]
