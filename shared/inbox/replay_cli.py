"""The dead-letter tool of a service's reader: `list` and `replay` (`shared.inbox.replay`).

Each service has a thin entry point that names its topic and reads its settings
(`python -m services.inventory.dead_letters`, `python -m services.order.dead_letters`).
Output goes to stdout, one line per record; an error or a refusal is one `error: ...` line on
stderr. Exit status: 0 done, 2 bad input or a refused replay (nothing written), 1 Kafka or
the settings failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn, TextIO

from aiokafka.errors import KafkaError, ProducerFenced
from pydantic import ValidationError

from shared.inbox.dead_letters import dead_letter_topic
from shared.inbox.replay import (
    DeadLetter,
    DeadLetters,
    ReplayRefused,
    Selection,
    read_dead_letters,
    replay,
)

VALUE_PREVIEW_CHARS = 60
BAD_INPUT = 2
FAILED = 1


@dataclass(frozen=True)
class Target:
    """Where the tool works: the broker and the topic whose dead letters these are."""

    bootstrap_servers: str
    topic: str


class UsageError(Exception):
    """The command line is not one the tool takes; the message says why, on one line."""


class _Parser(argparse.ArgumentParser):
    """Errors on one line (no usage block): `run` prints them and exits with status 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def parser(prog: str, reader: str, topic_setting: str) -> argparse.ArgumentParser:
    """The tool's arguments; `reader` says whose reader, `topic_setting` which topic it reads."""
    about = (f"The dead letters of {reader}: records of the topic it reads ({topic_setting}) "
             "that it could never apply, kept in <topic>.dlq with the reason. List them, and "
             "once their cause is fixed, put them back on the topic, each once.")
    examples = (f"examples:\n  {prog} list\n  {prog} replay --event-id ID\n"
                f"  {prog} replay --offset PARTITION:OFFSET\n  {prog} replay --all\n\n"
                "exit status: 0 done; 2 bad input or a refused replay (nothing written);\n"
                "1 Kafka or the settings failed\n")
    top = _Parser(prog=prog, description=textwrap.fill(about, 79), epilog=examples,
                  formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command", required=True, metavar="{list,replay}",
                                   parser_class=_Parser)
    commands.add_parser(
        "list", help="one line per dead letter",
        description="One line per record of <topic>.dlq, read (read_committed) from its "
                    "beginning to its end: PARTITION:OFFSET in the dead-letter topic, when it "
                    "was dead-lettered, where it was read (topic[partition]@offset), its event "
                    "type and id, whether it was replayed (and as which record), the reason, "
                    "and the start of its value.")
    replaying = commands.add_parser(
        "replay", help="put dead letters back on the topic, once",
        description="Write the chosen dead letters back to the topic they were read from (key, "
                    "value and headers as they were, with a replay_of header) and record each "
                    "in <topic>.dlq.replays, in one Kafka transaction. A dead letter replayed "
                    "before is refused; an unknown one is refused; in both cases nothing is "
                    "written (exit status 2). A replayed event applied twice changes nothing.")
    replaying.add_argument("--event-id", action="append", default=[], metavar="ID",
                           help="the dead letters of this event that are not replayed yet "
                                "(repeatable)")
    replaying.add_argument("--offset", action="append", default=[], metavar="[PARTITION:]OFFSET",
                           help="the dead letter at this offset of <topic>.dlq, as `list` "
                                "shows it (repeatable)")
    replaying.add_argument("--all", action="store_true",
                           help="every dead letter not replayed yet")
    return top


def main(argv: Sequence[str], target: Callable[[], Target], *, prog: str, reader: str,
         topic_setting: str) -> int:
    """A service's entry point: `run`, with the Kafka client's own logs kept to errors."""
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    return run(argv, target, prog=prog, reader=reader, topic_setting=topic_setting)


def run(argv: Sequence[str], target: Callable[[], Target], *, prog: str, reader: str,
        topic_setting: str, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Parse `argv`, then read the settings (`target`) and do the command; the exit status."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        args = parser(prog, reader, topic_setting).parse_args(list(argv))
    except UsageError as error:
        print(f"error: {error}", file=err)
        return BAD_INPUT
    selection = Selection(tuple(args.event_id), tuple(args.offset), args.all) \
        if args.command == "replay" else None
    if selection is not None and selection.every_waiting == bool(
            selection.event_ids or selection.offsets):
        print("error: replay needs --all, or --event-id / --offset (not both)", file=err)
        return BAD_INPUT
    try:
        where = target()
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, item['loc'])) or 'settings'}: {item['msg']}"
                             for item in error.errors(include_url=False, include_input=False))
        print(f"error: settings: {problems}", file=err)
        return FAILED
    try:
        if selection is None:
            return asyncio.run(_list(where, out, err))
        return asyncio.run(_replay(where, selection, out, err))
    except ReplayRefused as refused:
        print(f"error: {refused}; nothing was replayed", file=err)
        return BAD_INPUT
    except ProducerFenced:
        print(f"error: another replay of {dead_letter_topic(where.topic)} started meanwhile and "
              "fenced this one; this run replayed nothing (run `list` to see)", file=err)
        return FAILED
    except (KafkaError, OSError, TimeoutError) as error:
        text = " ".join(str(error).split()) or type(error).__name__
        print(f"error: kafka at {where.bootstrap_servers}: {text}", file=err)
        return FAILED


async def _list(where: Target, out: TextIO, err: TextIO) -> int:
    state = await read_dead_letters(where.bootstrap_servers, where.topic)
    for letter in state.letters:
        print(describe(state, letter), file=out)
    print(f"{state.dlq_topic}: {len(state.letters)} dead letters, {len(state.waiting)} not "
          "replayed", file=err)
    return 0


async def _replay(where: Target, selection: Selection, out: TextIO, err: TextIO) -> int:
    replayed = await replay(where.bootstrap_servers, where.topic, selection)
    if not replayed:
        print(f"nothing to replay: every dead letter of {dead_letter_topic(where.topic)} is "
              "replayed already", file=err)
    for item in replayed:
        letter = item.letter
        print(f"replayed {letter.ref} (event {letter.event_id or '-'}, "
              f"{letter.event_type or '-'}) as {item.topic}[{item.partition}]@{item.offset}",
              file=out)
    return 0


def describe(state: DeadLetters, letter: DeadLetter) -> str:
    """One dead letter on one line: `key=value` fields, the value's start last."""
    done = state.replay_of(letter)
    source = (f"{letter.source_topic}[{letter.source_partition}]@{letter.source_offset}"
              if letter.source_topic else "-")
    fields = [
        letter.ref,
        f"time={letter.time.strftime('%Y-%m-%dT%H:%M:%SZ')}",
        f"source={source}",
        f"type={letter.event_type or '-'}",
        f"event_id={letter.event_id or '-'}",
        f"replayed={done.target if done is not None else 'no'}",
        f"reason={json.dumps(letter.reason or '-', ensure_ascii=False)}",
        f"value={preview(letter.value)}",
    ]
    return " ".join(fields)


def preview(value: bytes | None, limit: int = VALUE_PREVIEW_CHARS) -> str:
    """The start of a record's value on one line: whitespace collapsed, controls escaped."""
    if value is None:
        return "(null)"
    text = value.decode("utf-8", "replace")
    text = " ".join(text.split())
    text = "".join(char if char.isprintable() else f"\\x{ord(char):02x}" for char in text)
    return text if len(text) <= limit else f"{text[:limit]}..."
