"""The outbox: one line per message, torn lines skipped, appends on a fresh line, never failing a send."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from tests.helpers.telegram_server import TelegramServer
from tests.unit.notify.conftest import TOKEN, Sleeps, telegram_env

from retrain.notify import DeployMessage, already_sent, read_outbox, send
from retrain.settings import Settings


def test_outbox_records_each_message(telegram_server: TelegramServer, make_settings, tmp_path: Path) -> None:  # noqa: F811
    telegram_server.respond(401)
    settings = make_settings(**telegram_env(telegram_server.url))
    outbox = tmp_path / "sub" / "outbox.jsonl"

    send(settings, "first", outbox=outbox, sleep=Sleeps())
    send(settings, "second", outbox=outbox, sleep=Sleeps())

    lines = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert [line["text"] for line in lines] == ["first", "second"]
    failed = {"channel": "telegram", "ok": False, "attempts": 1, "error": "HTTP 401: scripted error 401"}
    assert lines[0]["channels"] == [failed]
    assert lines[1]["channels"][0]["ok"] is True
    assert read_outbox(outbox) == lines
    assert TOKEN not in outbox.read_text()


def deploy(label: str | None = None) -> DeployMessage:
    return DeployMessage("churn", "2", label, "roc_auc", 0.91, 0.8, 0.88, "1", "2025-12-08")


def test_a_torn_line_is_skipped_and_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    outbox = tmp_path / "notifications.jsonl"
    outbox.write_text('{"text": "one", "channels": []}\n{"text": "tw\n{"text": "three", "channels": []}\n')

    with caplog.at_level(logging.WARNING):
        items = read_outbox(outbox)

    assert [item["text"] for item in items] == ["one", "three"]
    assert f"{outbox} line 2 is not valid JSON" in caplog.text


def test_an_append_after_a_torn_last_line_starts_a_fresh_line(settings: Settings) -> None:
    outbox = settings.outbox_path
    outbox.parent.mkdir(parents=True, exist_ok=True)
    outbox.write_bytes(b'{"text": "torn by a cra')  # no newline: the writer died mid-line

    send(settings, deploy(), outbox=outbox)

    assert outbox.read_text().splitlines()[0] == '{"text": "torn by a cra'
    (item,) = read_outbox(outbox)
    assert item["text"] == deploy().text()
    assert already_sent(outbox, deploy())
    assert not already_sent(outbox, deploy("other"))


def test_a_broken_outbox_never_fails_the_message(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    outbox = settings.outbox_path
    outbox.mkdir(parents=True)  # a folder where the file should be: unreadable and unwritable

    with caplog.at_level(logging.WARNING):
        results = send(settings, deploy(), outbox=outbox)

    assert [r.ok for r in results] == [True]
    assert not already_sent(outbox, deploy())
    assert read_outbox(outbox) == []
    assert "could not record the notification" in caplog.text


def test_the_outbox_records_what_each_channel_was_given(
    telegram_server: TelegramServer,  # noqa: F811
    make_settings,
) -> None:
    label = "L" * 4500
    settings = make_settings(
        **telegram_env(telegram_server.url), RETRAIN_NOTIFY_URLS=f"json://127.0.0.1:{telegram_server.port}/"
    )

    send(settings, deploy(label), outbox=settings.outbox_path, sleep=Sleeps())

    (telegram_text,) = [r.json["text"] for r in telegram_server.requests if r.api_method == "sendMessage"]
    (apprise_body,) = [r.json["message"] for r in telegram_server.requests if r.api_method is None]
    (item,) = read_outbox(settings.outbox_path)
    assert len(telegram_text) <= 4096
    assert item["text"] == telegram_text  # not the full text
    telegram, apprise = item["channels"]
    assert "text" not in telegram
    assert apprise["text"] == apprise_body == deploy(label).text()  # apprise's json plugin takes 32,768
    assert already_sent(settings.outbox_path, deploy(label))
