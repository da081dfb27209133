"""A Faust transport whose worker consumer reads only committed Kafka transactions.

faust-streaming 0.15.3 builds its worker consumer with `isolation_level="read_uncommitted"`
unless the `exactly_once` processing guarantee is on (`AIOKafkaConsumerThread.
_create_worker_consumer`). That guarantee is not used here (it has open duplicate bugs, and
a reader gets exactly-once effects from its own dedupe table), yet the relay writes each
batch in a Kafka transaction: reading uncommitted would apply records of aborted
transactions. So the consumer thread below builds the same consumer and makes it read
committed data only, and the transport that `use_read_committed` installs uses it.
"""

from __future__ import annotations

from typing import Any

import aiokafka
import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from shared.kafka import READ_COMMITTED


class ReadCommittedConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """The aiokafka consumer thread, with `isolation_level="read_committed"`."""

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka hands the level to its fetcher in `start()`, so setting it on the new,
        # not yet started consumer is the same as passing it to the constructor.
        consumer._isolation_level = READ_COMMITTED
        return consumer


class ReadCommittedConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, running a `ReadCommittedConsumerThread`."""

    def _new_consumer_thread(self) -> ReadCommittedConsumerThread:
        return ReadCommittedConsumerThread(self, loop=self.loop, beacon=self.beacon)


class ReadCommittedTransport(faust_aiokafka.Transport):
    """Faust's aiokafka transport, creating `ReadCommittedConsumer`s."""

    Consumer = ReadCommittedConsumer


def use_read_committed(app: faust.App) -> None:
    """Make `app` consume through `ReadCommittedTransport`.

    Call it right after creating the app, before declaring topics or agents: they reach the
    transport, and Faust creates the default one on first use.
    """
    app.transport = ReadCommittedTransport(app.conf.broker_consumer, app)
