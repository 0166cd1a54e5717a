"""Keep secrets out of logs, exceptions, XComs and messages.

`secret_values` lists every secret the settings hold (the Telegram token, the apprise URLs and the
token-like parts of them, the password of the MLflow tracking URI); `redact` replaces them, in plain
and URL-encoded form, with `***`. `redacting_loggers` does the same for third-party loggers for the
duration of a block: httpx logs every request URL at INFO, and the Telegram token is part of that URL.
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


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret in `text` (and its URL-encoded forms) with `***`.

    Longer secrets are replaced first, so a URL is masked whole before the password inside it.
    Empty secrets are ignored.
    """
    forms = {form for secret in secrets if secret for form in _forms(secret) if form}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text


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


def secret_values(settings: Settings) -> list[str]:
    """Every secret held by the settings, for `redact`."""
    found: list[str] = []
    if settings.telegram_token:
        found.append(settings.telegram_token.get_secret_value())
    for url in settings.notify_urls:
        found += url_secrets(url.get_secret_value())
    uri = settings.mlflow_tracking_uri_override
    if uri:
        try:
            password = urlsplit(uri).password
        except ValueError:
            password = None
        if password:
            found.append(password)
    return list(dict.fromkeys(s for s in found if s))


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites a record's message with the secrets masked."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            masked = redact(message, self.secrets)
            if masked != message:
                record.msg, record.args = masked, None
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
