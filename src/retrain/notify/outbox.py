"""The outbox: one JSON line per message sent (`notifications.jsonl`), what the demo lists and reruns check.

A line holds the time, the title, `text` (what the channels were given), `key` (an id of the full
message, `messages.message_key`) and one entry per channel (name, ok, attempts, error, and `text`
when that channel was given a different, shortened text). Reading and appending go through
`retrain.io`: a torn line is skipped and reported, a new line never lands on a torn one, and a
broken outbox (unwritable, corrupt) never fails a deploy or its message.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain.io import append_jsonl, read_jsonl
from retrain.notify.messages import Message, message_key, plain, render

if TYPE_CHECKING:
    from retrain.notify.channels import ChannelResult

_LOG = logging.getLogger("retrain.notify")

Logger = logging.Logger | logging.LoggerAdapter  # type: ignore[type-arg]


def record(outbox: Path, title: str, full: str, delivered: list[tuple[ChannelResult, str]], log: Logger = _LOG) -> None:
    """Append one message as one JSON line; a full disk or a broken file must not fail the task either.

    `full` is the whole (redacted) message, `delivered` each channel's result with the text it was given.
    """
    texts = [text for _, text in delivered]
    shown = texts[0] if texts else full
    channels = []
    for result, text in delivered:
        entry = asdict(result)
        if text != shown:
            entry["text"] = text
        channels.append(entry)
    line = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "title": title,
        "text": shown,
        "key": message_key(full),
        "channels": channels,
    }
    try:
        append_jsonl(Path(outbox), line, sort_keys=True)
    except (OSError, ValueError) as exc:
        log.warning("could not record the notification in %s: %s", outbox, exc)


def read_outbox(outbox: Path) -> list[dict[str, Any]]:
    """The messages recorded by `send`, oldest first; torn lines skipped (with a warning); absent file: []."""
    try:
        return read_jsonl(Path(outbox))
    except OSError as exc:  # unreadable: as if nothing was sent (a rerun may then send again)
        _LOG.warning("could not read the outbox %s: %s", outbox, exc)
        return []


def already_sent(outbox: Path, message: Message | str) -> bool:
    """Whether this exact message was recorded as delivered on every channel (a rerun must not resend it).

    Compares the message's `key` (older lines without one: their `text`) with the full message text.
    Secrets are not redacted here, so a message holding a secret is never found: it is sent again.
    """
    full = render(plain(message) if isinstance(message, str) else message.lines())
    key = message_key(full)
    for item in read_outbox(outbox):
        same = item.get("key") == key if "key" in item else item.get("text") == full
        if same and all(c.get("ok") for c in item.get("channels", [])):
            return True
    return False
