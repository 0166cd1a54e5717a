"""Secrets: what counts as one, and that redact() masks every form of it."""

from __future__ import annotations

import logging

import pytest

from retrain.secrets import (
    MASK,
    RedactingFilter,
    mask_url,
    redact,
    redact_exception,
    redacting_loggers,
    secret_values,
    url_credentials,
    url_secrets,
)
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


# --- URL settings and exceptions (issue 13 item 3) -------------------------------------------------


def test_any_url_password_is_masked_even_when_not_a_known_secret() -> None:
    text = "API request to http://bob:pw-9@127.0.0.1:1/api failed; postgresql+psycopg2://u:p%40ss@db:5432/x"

    assert (
        redact(text, [])
        == "API request to http://bob:***@127.0.0.1:1/api failed; postgresql+psycopg2://u:***@db:5432/x"
    )
    assert redact("http://host:8080/path and a@b.c", []) == "http://host:8080/path and a@b.c"  # a port, an email


def test_mask_url_keeps_the_structure_and_hides_the_credentials() -> None:
    assert mask_url("https://alerts:Pw123456@tg.example.com/") == "https://alerts:***@tg.example.com/"
    assert mask_url("https://host/x?token=abc123&chat=7") == "https://host/x?token=***&chat=7"
    assert mask_url("https://api.telegram.org") == "https://api.telegram.org"
    assert url_credentials("http://host:notaport/") == []
    assert url_credentials("http://u:secretpw@host:notaport/") == ["secretpw"]


def test_secret_values_include_the_credentials_of_every_url_setting(retrain_env: dict[str, str]) -> None:
    settings = load_settings(
        {
            **retrain_env,
            "TG_API_URL": "http://alerts:TgPw-111@127.0.0.1:9",
            "MLFLOW_TRACKING_URI": "http://mlflow:MlPw-222@127.0.0.1:1/",
        }
    )

    assert {"TgPw-111", "MlPw-222"} <= set(secret_values(settings))
    shown = str(settings.public_dict())
    assert "TgPw-111" not in shown and "MlPw-222" not in shown
    assert "http://alerts:***@127.0.0.1:9" in shown and "http://mlflow:***@127.0.0.1:1/" in shown


def test_a_bad_url_setting_is_refused_without_echoing_its_password(retrain_env: dict[str, str]) -> None:
    from retrain.settings import SettingsError

    with pytest.raises(SettingsError) as caught:
        load_settings({**retrain_env, "TG_API_URL": "ftp://alerts:TgPw-333@host/"})

    assert "TgPw-333" not in str(caught.value) and "ftp://alerts:***@host/" in str(caught.value)


def test_redact_exception_masks_the_whole_chain_in_place() -> None:
    class WithMessage(Exception):
        def __init__(self, message: str) -> None:
            super().__init__(message)
            self.message = message

    try:
        try:
            raise ConnectionError("cannot reach http://u:inner-pw@host/", 3)
        except ConnectionError as inner:
            raise WithMessage(f"outer {TOKEN}") from inner
    except WithMessage as exc:
        caught = exc

    assert redact_exception(caught, [TOKEN]) is caught
    assert caught.args == ("outer ***",) and caught.message == "outer ***"
    assert caught.__cause__ is not None and caught.__cause__.args == ("cannot reach http://u:***@host/", 3)


def test_redacting_filter_masks_a_logged_traceback() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed: %s", ("http://u:pw-777@h/",), None)
    try:
        raise RuntimeError(record.args[0] + " down")  # type: ignore[index]
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()

    RedactingFilter([]).filter(record)

    assert logging.Formatter().format(record).count("pw-777") == 0
