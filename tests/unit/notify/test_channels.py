"""Delivery to a local Bot API stand-in and apprise: retries, backoff, errors reported, no leaks."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from tests.helpers.telegram_server import Reply, TelegramServer
from tests.unit.notify.conftest import CHAT, TOKEN, Sleeps, telegram_env

from retrain.notify import ChannelResult, send
from retrain.ops.supervisor import free_port
from retrain.settings import Settings

# --- Telegram ---------------------------------------------------------------------------------------


def test_telegram_success_sends_exactly_one_request(telegram_server: TelegramServer, make_settings) -> None:  # noqa: F811
    settings = make_settings(**telegram_env(telegram_server.url))

    results = send(settings, "hello team", sleep=Sleeps())

    assert results == [ChannelResult("telegram", ok=True, attempts=1, error=None)]
    [request] = telegram_server.requests
    assert request.token == TOKEN
    assert request.api_method == "sendMessage"
    assert request.json == {"chat_id": CHAT, "text": "hello team"}


def test_telegram_retries_5xx_with_exponential_backoff(telegram_server: TelegramServer, make_settings) -> None:  # noqa: F811
    telegram_server.respond(500, 502)
    sleeps = Sleeps()

    [result] = send(make_settings(**telegram_env(telegram_server.url)), "hi", sleep=sleeps, backoff_base=0.5)

    assert result.ok
    assert result.attempts == 3
    assert sleeps == [0.5, 1.0]
    assert len(telegram_server.requests) == 3


def test_telegram_429_honours_retry_after_capped(telegram_server: TelegramServer, make_settings) -> None:  # noqa: F811
    telegram_server.respond(Reply.too_many(7), Reply.too_many(3, header=True), Reply.too_many(900))
    sleeps = Sleeps()

    [result] = send(make_settings(**telegram_env(telegram_server.url)), "hi", sleep=sleeps, max_delay=60)

    assert result.ok
    assert result.attempts == 4
    assert sleeps == [7.0, 3.0, 60.0]


def test_telegram_timeout_retried_then_reported(telegram_server: TelegramServer, make_settings) -> None:  # noqa: F811
    telegram_server.respond(Reply.slow(3), Reply.slow(3))
    env = telegram_env(telegram_server.url, RETRAIN_NOTIFY_TIMEOUT="0.2", RETRAIN_NOTIFY_RETRIES="1")
    settings = make_settings(**env)
    sleeps = Sleeps()

    [result] = send(settings, "hi", sleep=sleeps, backoff_base=0.01)

    assert not result.ok
    assert result.attempts == 2
    assert result.error is not None
    assert "timeout" in result.error.lower()
    assert sleeps == [0.01]
    assert len(telegram_server.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 403])
def test_telegram_client_errors_not_retried(telegram_server: TelegramServer, make_settings, status: int) -> None:  # noqa: F811
    telegram_server.respond(Reply(status, {"ok": False, "error_code": status, "description": "Unauthorized"}))
    sleeps = Sleeps()

    [result] = send(make_settings(**telegram_env(telegram_server.url)), "hi", sleep=sleeps)

    assert result == ChannelResult("telegram", ok=False, attempts=1, error=f"HTTP {status}: Unauthorized")
    assert sleeps == []
    assert len(telegram_server.requests) == 1


def test_telegram_ok_false_is_a_failure(telegram_server: TelegramServer, make_settings) -> None:  # noqa: F811
    telegram_server.respond(Reply(200, {"ok": False, "description": "odd"}))

    [result] = send(make_settings(**telegram_env(telegram_server.url)), "hi", sleep=Sleeps())

    assert not result.ok
    assert result.attempts == 1
    assert '"ok": true' in (result.error or "")


def test_token_never_leaks_when_server_is_down(make_settings, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    # given a Bot API URL where nothing listens, and every logger at DEBUG (httpx logs request URLs)
    caplog.set_level(logging.DEBUG)
    settings = make_settings(**telegram_env(f"http://127.0.0.1:{free_port()}", RETRAIN_NOTIFY_RETRIES="2"))
    outbox = tmp_path / "outbox.jsonl"

    # when sending a text that itself mentions the token
    results = send(settings, f"oops {TOKEN}", sleep=Sleeps(), outbox=outbox)

    # then the failure is reported, not raised, and the token is nowhere
    [result] = results
    assert not result.ok
    assert result.attempts == 3
    assert "ConnectError" in (result.error or "")
    assert "failed after 3 attempt(s)" in caplog.text
    for where in (caplog.text, repr(results), outbox.read_text()):
        assert TOKEN not in where
        assert TOKEN.split(":")[1] not in where
    assert "oops ***" in caplog.text


def test_httpx_request_log_is_redacted(telegram_server: TelegramServer, make_settings, caplog) -> None:  # noqa: F811
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="httpx")  # Airflow's logging config, once imported, quiets httpx

    send(make_settings(**telegram_env(telegram_server.url)), "hi", sleep=Sleeps())

    assert "HTTP Request: POST" in caplog.text  # httpx did log the request...
    assert TOKEN not in caplog.text  # ...without the token
    assert "/bot***/sendMessage" in caplog.text


# --- apprise ----------------------------------------------------------------------------------------


def test_apprise_json_reaches_local_server(telegram_server: TelegramServer, make_settings) -> None:  # noqa: F811
    settings = make_settings(RETRAIN_NOTIFY_URLS=f"json://127.0.0.1:{telegram_server.port}/")

    results = send(settings, "deployed v3", title="retrain: deploy", sleep=Sleeps())

    assert results == [ChannelResult("apprise:json", ok=True, attempts=1, error=None)]
    [request] = telegram_server.requests
    assert request.path == "/"
    assert request.json["message"] == "deployed v3"
    assert request.json["title"] == "retrain: deploy"


def test_apprise_retried_on_failure(telegram_server: TelegramServer, make_settings) -> None:  # noqa: F811
    telegram_server.respond(500)
    sleeps = Sleeps()
    settings = make_settings(RETRAIN_NOTIFY_URLS=f"json://127.0.0.1:{telegram_server.port}/")

    [result] = send(settings, "x", sleep=sleeps, backoff_base=0.25)

    assert result.ok
    assert result.attempts == 2
    assert sleeps == [0.25]


def test_invalid_apprise_url_is_reported_not_raised(telegram_server: TelegramServer, make_settings) -> None:  # noqa: F811
    secret_typo = "slak://TOKENabc123456/xyzSECRET987654"
    settings = make_settings(
        RETRAIN_NOTIFY_URLS=f"{secret_typo},json://127.0.0.1:{telegram_server.port}/",
        **telegram_env(telegram_server.url),
    )

    results = send(settings, "x", sleep=Sleeps())

    assert [(r.channel, r.ok) for r in results] == [("telegram", True), ("apprise:slak", False), ("apprise:json", True)]
    assert results[1].attempts == 0
    assert "invalid" in (results[1].error or "")
    assert "TOKENabc123456" not in repr(results)


# --- no channel ------------------------------------------------------------------------------------


def test_no_channel_logs_the_message(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="retrain.notify")

    results = send(settings, "model deployed\ndeploy_status=success")

    assert results == [ChannelResult("log", ok=True, attempts=1, error=None)]
    assert "model deployed\ndeploy_status=success" in caplog.text
