"""Secrets: what counts as one, and that redact() masks every form of it."""

from __future__ import annotations

import logging

import pytest

from retrain.secrets import MASK, redact, redacting_loggers, secret_values, url_secrets
from retrain.settings import Settings, load_settings

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("token is s3cr3t!", ["s3cr3t"], "token is ***!"),
        ("s3cr3t and s3cr3t", ["s3cr3t"], "*** and ***"),
        ("nothing here", ["s3cr3t"], "nothing here"),
        ("empty secrets are ignored", ["", ""], "empty secrets are ignored"),
        (
            f"POST https://api.telegram.org/bot{TOKEN}/sendMessage",
            [TOKEN],
            "POST https://api.telegram.org/bot***/sendMessage",
        ),
        ("POST /bot123456789%3AAAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage", [TOKEN], "POST /bot***/sendMessage"),
        # the longer secret first: a URL is masked whole, not left with its password masked inside
        ("url=json://u:pw1234@host/", ["pw1234", "json://u:pw1234@host/"], "url=***"),
        ("two a1 b2", ["a1", "b2"], "two *** ***"),
    ],
)
def test_redact(text: str, secrets: list[str], expected: str) -> None:
    assert redact(text, secrets) == expected


def test_secret_values_collects_token_urls_and_db_password(retrain_env: dict[str, str]) -> None:
    # given settings holding every kind of secret
    slack = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general"
    mail = "mailtos://alice:mail-Passw0rd@example.com?to=bob@example.com"
    settings = load_settings(
        {
            **retrain_env,
            "TG_TOKEN": TOKEN,
            "TG_CHAT": "-100123",
            "RETRAIN_NOTIFY_URLS": f"{slack},{mail},json://127.0.0.1:8000/",
            "MLFLOW_TRACKING_URI": "postgresql://mlflow:db-pa55word@db:5432/mlflow",
        }
    )

    # when
    found = secret_values(settings)

    # then every secret is listed, and the harmless parts (chat, host, channel) are not
    for secret in (
        TOKEN,
        slack,
        "T1JJ3T3L2",
        "A1BRTD4JD",
        "TIiajkdnlazkcOXrIdevi7FQ",
        mail,
        "mail-Passw0rd",
        "db-pa55word",
        "json://127.0.0.1:8000/",
    ):
        assert secret in found
    for harmless in ("-100123", "127.0.0.1", "example.com", "general", "mlflow", "db"):
        assert harmless not in found
    text = redact(f"{settings.mlflow_tracking_uri} {settings.public_dict()}", found)
    assert "db-pa55word" not in text


def test_secret_values_empty_without_secrets(settings: Settings) -> None:
    assert secret_values(settings) == []


def test_url_secrets_query_keys_and_bad_urls() -> None:
    assert "k3y" in url_secrets("ntfy://host/topic?token=k3y")
    assert url_secrets("http://host:notaport/") == ["http://host:notaport/"]


def test_redacting_loggers_masks_third_party_records(caplog: pytest.LogCaptureFixture) -> None:
    # given a third-party logger that prints a URL with a token (as httpx does at INFO)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="httpx")  # Airflow's logging config, once imported, quiets httpx
    with redacting_loggers([TOKEN]):
        logging.getLogger("httpx").info('HTTP Request: POST %s "200 OK"', f"https://x/bot{TOKEN}/sendMessage")
    logging.getLogger("httpx").info("after %s", "the block")

    # then the token is masked inside the block, and the filter is gone after it
    assert TOKEN not in caplog.text
    assert f"bot{MASK}/sendMessage" in caplog.text
    assert not logging.getLogger("httpx").filters
