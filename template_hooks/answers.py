"""The rules an answer to the template's prompts must follow, each with what to type instead."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from template_hooks.manifest import RELAY_MODES

# A name that is both a Python distribution name (PEP 508: letters, digits, ".", "_", "-",
# starting and ending with a letter or digit) and a docker compose project name (lowercase
# letters, digits, "_", "-", starting with a letter or digit).
SLUG = re.compile(r"[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?")

# What Kafka accepts as a topic name (kafka.common.internals.Topic), "." and ".." excepted.
TOPIC = re.compile(r"[a-zA-Z0-9._-]+")
KAFKA_MAX_TOPIC_LENGTH = 249
# Topics the services name after the order events topic: the relay's checkpoints
# (services/relay/settings.py) and the inventory's dead letters (services/inventory/settings.py).
DERIVED_TOPIC_SUFFIXES = (".relay-checkpoints", ".dlq")
MAX_TOPIC_LENGTH = KAFKA_MAX_TOPIC_LENGTH - max(map(len, DERIVED_TOPIC_SUFFIXES))

EMAIL = re.compile(r"[^@\s\"\\<>]+@[^@\s\"\\<>]+\.[^@\s\"\\<>]+")

CHOICES = {
    "python_version": ("3.11", "3.12", "3.13"),
    "relay_mode": RELAY_MODES,
    "license": ("MIT", "Apache-2.0", "Proprietary"),
}


def suggest_slug(text: str) -> str:
    """A valid slug close to `text`: ASCII, lowercase, runs of other characters made one dash."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_]+", "-", ascii_text.lower()).strip("-_")
    return slug or "my-shop"


def suggest_topic(text: str) -> str:
    """A topic name close to `text` that Kafka accepts."""
    topic = re.sub(r"[^a-zA-Z0-9._-]+", "-", text).strip("-")[:MAX_TOPIC_LENGTH]
    return "order.events" if topic in ("", ".", "..") else topic


def slug_problem(slug: str) -> str | None:
    """Why `slug` cannot be the distribution and compose project name, or None."""
    if SLUG.fullmatch(slug):
        return None
    return (
        f'project_slug "{slug}" cannot be used: it is the Python distribution name and the '
        "docker compose project name, so it may hold only lowercase letters, digits, '-' and "
        "'_', and must start and end with a letter or digit. "
        f'Type "{suggest_slug(slug)}" instead.'
    )


def topic_problem(topic: str) -> str | None:
    """Why Kafka (or a topic derived from it) would refuse `topic`, or None."""
    if TOPIC.fullmatch(topic) and topic not in (".", "..") and len(topic) <= MAX_TOPIC_LENGTH:
        return None
    return (
        f'order_events_topic "{topic}" would be refused by Kafka: a topic name holds only '
        "letters, digits, '.', '_' and '-', is not '.' or '..', and here has at most "
        f"{MAX_TOPIC_LENGTH} characters (Kafka allows {KAFKA_MAX_TOPIC_LENGTH}, and the "
        f'services add "{DERIVED_TOPIC_SUFFIXES[0]}" to it). '
        f'Type "{suggest_topic(topic)}" instead.'
    )


def _one_line_problem(key: str, value: str, example: str) -> str | None:
    if not value.strip():
        return f'{key} is empty. Type one, e.g. "{example}".'
    if any(unicodedata.category(char) == "Cc" for char in value):
        return f"{key} holds a line break or another control character. Type it on one line."
    return None


def problems(answers: Mapping[str, object]) -> list[str]:
    """Every answer the project could not use, each as a message saying what to type instead."""

    def answer(key: str) -> str:
        return str(answers.get(key, ""))

    found = [
        _one_line_problem("project_name", answer("project_name"), "Outbox Shop"),
        _one_line_problem("author_name", answer("author_name"), "Outbox Shop maintainers"),
        _one_line_problem("description", answer("description"), "Orders, with an outbox."),
        slug_problem(answer("project_slug")),
        topic_problem(answer("order_events_topic")),
    ]
    email = answer("author_email")
    if email and not EMAIL.fullmatch(email):
        found.append(
            f'author_email "{email}" is not an email address. '
            'Type one such as "you@example.com", or leave it empty.'
        )
    for key, choices in CHOICES.items():
        if answer(key) not in choices:
            offered = ", ".join(choices)
            found.append(f'{key} "{answer(key)}" is not offered. Type one of: {offered}.')
    return [problem for problem in found if problem is not None]
