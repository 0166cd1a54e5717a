"""Keep secrets out of logs, exceptions, XComs and messages.

`secret_values` lists every secret the settings hold (the Telegram token, the apprise URLs and the
token-like parts of them, the credentials in every other URL setting: the MLflow tracking URI, the
Telegram API URL, the lock URL, a database `RETRAIN_SOURCE`, `RETRAIN_PREDICTIONS_URL`); `redact`
replaces them, in plain and URL-encoded form, with `***`, and masks the
password of any `scheme://user:password@host` URL in the text even when it is not a known secret.
`mask_url` shows a URL setting with its credentials masked (what `retrain settings` prints).
`redacting_loggers` does the same for third-party loggers for the duration of a block: httpx logs
every request URL at INFO, and the Telegram token is part of that URL.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

if TYPE_CHECKING:
    from retrain.settings import Settings

MASK = "***"

# Query keys whose values are secret whatever they look like (apprise URLs carry tokens as ?key=...).
_SECRET_KEYS = re.compile(r"token|key|pass|secret|auth|webhook|sig", re.IGNORECASE)


def _forms(secret: str) -> set[str]:
    """The secret as written, URL-encoded and URL-decoded: a token travels in URL paths."""
    return {secret, quote(secret, safe=""), quote(secret), quote_plus(secret), unquote(secret)}


# The password of a URL's userinfo, `scheme://user:PASSWORD@`, wherever it appears in a text.
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/:@]*:)(?P<password>[^\s/@]+)@")


def mask_url_passwords(text: str) -> str:
    """Mask the password of every `scheme://user:password@host` URL in `text` (known secret or not)."""
    return _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}@", text)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret in `text` (and its URL-encoded forms) with `***`, and every URL password.

    Longer secrets are replaced first, so a URL is masked whole before the password inside it.
    Empty secrets are ignored.
    """
    forms = {form for secret in secrets if secret for form in _forms(secret) if form}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return mask_url_passwords(text)


def _token_like(part: str) -> bool:
    """A URL part that is probably a credential: long, or letters mixed with digits (not a host name)."""
    if len(part) >= 16:
        return True
    return len(part) >= 8 and "." not in part and any(c.isdigit() for c in part) and any(c.isalpha() for c in part)


def url_secrets(url: str) -> list[str]:
    """The whole URL and its credential parts: password, token-like user/host/path parts, secret query values."""
    found = [url]
    try:
        parts = urlsplit(url)
        password, username = parts.password, parts.username
    except ValueError:  # e.g. a bad port: the whole URL is still masked
        return found
    if password:
        found.append(password)
    if username and _token_like(username):
        found.append(username)
    host = parts.netloc.rpartition("@")[2]
    candidates = [host.split(":")[0], *parts.path.split("/"), parts.fragment]
    found += [c for c in candidates if c and _token_like(c)]
    for key, value in parse_qsl(parts.query, keep_blank_values=False):
        if value and (_SECRET_KEYS.search(key) or _token_like(value)):
            found.append(value)
    return found


def url_credentials(url: str) -> list[str]:
    """The credentials in a service URL (not a secret as a whole): its password and secret-named query values."""
    try:
        parts = urlsplit(url)
        found = [parts.password] if parts.password else []
    except ValueError:  # a bad port: fall back to the generic userinfo pattern
        match = _URL_PASSWORD.search(url)
        return [match["password"]] if match else []
    found += [v for k, v in parse_qsl(parts.query) if v and _SECRET_KEYS.search(k)]
    return found


def mask_url(url: str) -> str:
    """A URL setting as it may be printed: `https://user:***@host/path?token=***`."""
    return redact(url, url_credentials(url))


def secret_values(settings: Settings) -> list[str]:
    """Every secret held by the settings, for `redact` (and Airflow's secrets masker)."""
    found: list[str] = []
    if settings.telegram_token:
        found.append(settings.telegram_token.get_secret_value())
    for url in settings.notify_urls:
        found += url_secrets(url.get_secret_value())
    for uri in (
        settings.mlflow_tracking_uri_override,
        settings.telegram_api_url,
        settings.lock_url,
        settings.source,
        settings.predictions_url,
    ):
        if uri:
            found += url_credentials(uri)
    return list(dict.fromkeys(s for s in found if s))


def redact_exception(exc: BaseException, secrets: Iterable[str]) -> BaseException:
    """Mask secrets in an exception and its whole `__cause__`/`__context__` chain, in place; returns `exc`.

    Rewrites each exception's string `args` (what `str(exc)` and a traceback print) and a string
    `message` attribute (MLflow's). An exception whose attributes cannot be set is left as it is.
    """
    secrets = list(secrets)
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        try:
            current.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in current.args)
            if isinstance(getattr(current, "message", None), str):
                current.message = redact(current.message, secrets)  # type: ignore[attr-defined]
        except (AttributeError, TypeError):
            pass
        pending += [current.__cause__, current.__context__]
    return exc


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites a record's message with the secrets masked."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message, self.secrets)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            redact_exception(record.exc_info[1], self.secrets)
            record.exc_text = None  # a cached formatted traceback would still hold the secret
        return True


# Loggers of the HTTP clients we call, which log request URLs (a logger's filter sees only its own records).
HTTP_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "apprise", "urllib3.connectionpool")


@contextmanager
def redacting_loggers(secrets: Iterable[str], names: Iterable[str] = HTTP_LOGGERS) -> Iterator[None]:
    """Mask secrets in what the named loggers emit while the block runs."""
    flt = RedactingFilter(secrets)
    loggers = [logging.getLogger(name) for name in names]
    for logger in loggers:
        logger.addFilter(flt)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(flt)
