"""The Faust app every service is built on, configured from settings (no I/O here)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import faust
from faust.app.base import BootStrategy

from shared.settings import CommonSettings


class ServiceApp(faust.App):
    """A Faust app that creates its data directory's parents when it first starts."""

    async def on_first_start(self) -> None:
        await asyncio.to_thread(Path(self.conf.datadir).mkdir, parents=True, exist_ok=True)
        await super().on_first_start()


def faust_app(
    app_id: str,
    settings: CommonSettings,
    *,
    web_host: str,
    web_port: int,
    consumes: bool = True,
    **options: Any,
) -> faust.App:
    """A Faust app with the project's defaults: in-memory stores, no leader topic, acks=all.

    An app that `consumes` nothing starts no Kafka client of Faust's at all: a Faust consumer
    with no topics crashes, and a service that only serves HTTP has no use for one.
    """
    app = ServiceApp(
        app_id,
        broker=settings.kafka_broker_url,
        web_host=web_host,
        web_bind=web_host,
        web_port=web_port,
        datadir=str(Path(settings.data_dir) / app_id),
        store="memory://",
        topic_disable_leader=True,
        autodiscover=False,
        producer_acks=-1,
        **options,
    )
    if not consumes:
        app.boot_strategy = BootStrategy(app, enable_kafka=False)
    return app
