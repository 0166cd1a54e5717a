"""Delivery: Telegram, apprise URLs and the log, each retried and reported, never raising.

Telegram goes through a plain httpx client (`POST {api}/bot{token}/sendMessage`) because apprise's
Telegram plugin cannot point at another Bot API host (a self-hosted server, or a local stand-in in
tests). Every other channel is an apprise URL from `RETRAIN_NOTIFY_URLS`. With no channel configured
the message goes to the log, so the task log still shows it (and the outbox records it).

Each channel gets the message fitted to its own limit (Telegram: 4,096 characters; an apprise
plugin: its `body_maxlen`), free text shortened first (`messages.render`), and the outbox records
what each channel was given. A failing channel is retried with exponential backoff (a 429 waits as
long as the server asks, up to a cap), then reported: `send` never raises for a channel or for the
outbox, because a notification must never undo a deploy. Nothing it logs, returns or records
contains a secret.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from retrain.notify.messages import Lines, Message, first_line, plain, redact_lines, render
from retrain.notify.outbox import record
from retrain.secrets import redact, redacting_loggers, secret_values

if TYPE_CHECKING:
    from retrain.settings import Settings

_LOG = logging.getLogger("retrain.notify")

BACKOFF_BASE = 1.0  # seconds before the first retry; doubled for each further one
MAX_DELAY = 60.0  # the longest wait between two attempts, whatever a server asks for
TELEGRAM_MAX_CHARS = 4096  # Bot API limit for one message (sendMessage `text`: 1-4096 characters)

Logger = logging.Logger | logging.LoggerAdapter  # type: ignore[type-arg]


# --- delivery ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelResult:
    """The outcome of one channel: its name (never a secret), success, requests made, the redacted error."""

    channel: str
    ok: bool
    attempts: int
    error: str | None = None


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    error: str | None = None
    retry: bool = False
    delay: float | None = None  # what the server asked to wait before the next attempt


def _with_retries(
    attempt: Callable[[], _Outcome],
    retries: int,
    sleep: Callable[[float], None],
    backoff_base: float,
    max_delay: float,
) -> tuple[bool, int, str | None]:
    """Run `attempt` until it succeeds, says not to retry, or `retries` retries are spent."""
    outcome = _Outcome(False, "not attempted")
    for number in range(1, retries + 2):
        outcome = attempt()
        if outcome.ok or not outcome.retry or number > retries:
            return outcome.ok, number, outcome.error
        delay = outcome.delay if outcome.delay is not None else backoff_base * 2 ** (number - 1)
        sleep(max(0.0, min(delay, max_delay)))
    return outcome.ok, retries + 1, outcome.error


def _retry_after(response: httpx.Response, body: Any) -> float | None:
    """The wait a 429 asks for: Bot API `parameters.retry_after`, else the Retry-After header (seconds)."""
    candidates: list[Any] = []
    if isinstance(body, dict) and isinstance(body.get("parameters"), dict):
        candidates.append(body["parameters"].get("retry_after"))
    candidates.append(response.headers.get("retry-after"))
    for value in candidates:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            continue
        if seconds >= 0:
            return seconds
    return None


def _telegram_attempt(client: httpx.Client, url: str, payload: dict[str, Any]) -> _Outcome:
    try:
        response = client.post(url, json=payload)
    except httpx.TimeoutException as exc:
        return _Outcome(False, f"timeout ({type(exc).__name__})", retry=True)
    except httpx.TransportError as exc:
        return _Outcome(False, f"{type(exc).__name__}: {exc}", retry=True)
    try:
        body = response.json()
    except ValueError:
        body = None
    description = body.get("description") if isinstance(body, dict) else None
    status = f"HTTP {response.status_code}" + (f": {description}" if description else "")
    if response.status_code == 429:
        return _Outcome(False, status, retry=True, delay=_retry_after(response, body))
    if response.status_code >= 500:
        return _Outcome(False, status, retry=True)
    if response.status_code >= 400:  # a bad token or chat: retrying cannot help
        return _Outcome(False, status)
    if not (isinstance(body, dict) and body.get("ok") is True):
        return _Outcome(False, f'{status}: the answer is not a Bot API success (no "ok": true)')
    return _Outcome(True)


def _send_telegram(settings: Settings, text: str, **retry: Any) -> tuple[bool, int, str | None]:
    assert settings.telegram_token is not None
    url = f"{settings.telegram_api_url}/bot{settings.telegram_token.get_secret_value()}/sendMessage"
    payload = {"chat_id": settings.telegram_chat, "text": text}
    with httpx.Client(timeout=settings.notify_timeout) as client:
        return _with_retries(lambda: _telegram_attempt(client, url, payload), settings.notify_retries, **retry)


def _apprise_app(url: str) -> Any:
    """An apprise notifier holding the one plugin for `url`, or None when apprise does not accept the URL."""
    import apprise  # only paid for when an apprise URL is configured

    app = apprise.Apprise()
    return app if app.add(url) else None


def _send_apprise(settings: Settings, app: Any, title: str, text: str, **retry: Any) -> tuple[bool, int, str | None]:
    if app is None:
        return False, 0, "invalid or unsupported apprise URL"

    def attempt() -> _Outcome:
        result = app.notify(body=text, title=title, timeout=settings.notify_timeout)
        if result:
            return _Outcome(True)
        problems = [e.message for e in result.logs() if e.level in ("WARNING", "ERROR", "CRITICAL")]
        return _Outcome(False, problems[-1] if problems else f"apprise status {result.status.name}", retry=True)

    return _with_retries(attempt, settings.notify_retries, **retry)


def _apprise_limit(app: Any) -> int | None:
    """The body length the URL's apprise plugin accepts (`body_maxlen`), None when unknown."""
    limit = getattr(app[0], "body_maxlen", None) if app else None
    return limit if isinstance(limit, int) and limit > 0 else None


_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,19}")


def _apprise_channel(url: str, secrets: list[str], taken: set[str]) -> str:
    """`apprise:<scheme>` (numbered when repeated): the only part of an apprise URL that is never secret."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if not _SCHEME.fullmatch(scheme) or redact(scheme, secrets) != scheme:
        scheme = "url"
    name, n = f"apprise:{scheme}", 1
    while name in taken:
        n += 1
        name = f"apprise:{scheme}#{n}"
    taken.add(name)
    return name


def _guarded(channel: str, secrets: list[str], deliver: Callable[[], tuple[bool, int, str | None]]) -> ChannelResult:
    """Run one channel; whatever goes wrong becomes a failed result with a redacted error, never a raise."""
    try:
        ok, attempts, error = deliver()
    except Exception as exc:  # a notification must never undo a deploy
        ok, attempts, error = False, 1, f"{type(exc).__name__}: {exc}"
    return ChannelResult(channel, ok, attempts, first_line(error, secrets) if error else None)


def send(
    settings: Settings,
    message: Message | str,
    *,
    title: str = "retrain",
    logger: Logger | None = None,
    outbox: Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
    backoff_base: float = BACKOFF_BASE,
    max_delay: float = MAX_DELAY,
) -> list[ChannelResult]:
    """Send a message to every configured channel and report each one; never raises for a channel.

    `message` is a message object (`DeployMessage`, `FailureAlert`, ...: its free text is shortened
    first when a channel's limit is exceeded) or plain text (all of it free text). Channels: Telegram
    (when a token and chat are set), each apprise URL in `notify_urls`, or, with none configured, the
    log (channel `"log"`). Each channel is tried `1 + notify_retries` times at most, waiting
    `backoff_base * 2**n` seconds (or a 429's `retry_after`), never more than `max_delay`. The full
    message, redacted, is logged at INFO; a failed channel at WARNING. With `outbox`, one JSON line
    (time, title, the text delivered, per-channel results) is appended to that file; an outbox that
    cannot be written is logged, never raised.
    """
    log = logger or _LOG
    secrets = secret_values(settings)
    lines: Lines = redact_lines(plain(message) if isinstance(message, str) else message.lines(), secrets)
    full = render(lines)
    title = redact(title, secrets)
    retry: dict[str, Any] = {"sleep": sleep, "backoff_base": backoff_base, "max_delay": max_delay}
    delivered: list[tuple[ChannelResult, str]] = []
    with redacting_loggers(secrets):
        if settings.telegram_token and settings.telegram_chat:
            text = render(lines, TELEGRAM_MAX_CHARS)
            result = _guarded("telegram", secrets, lambda: _send_telegram(settings, text, **retry))
            delivered.append((result, text))
        taken: set[str] = set()
        for secret_url in settings.notify_urls:
            url = secret_url.get_secret_value()
            channel = _apprise_channel(url, secrets, taken)
            try:
                app = _apprise_app(url)
            except Exception:  # an apprise that cannot even parse the URL is one failed channel
                app = None
            text = render(lines, _apprise_limit(app))
            result = _guarded(
                channel, secrets, lambda app=app, text=text: _send_apprise(settings, app, title, text, **retry)
            )
            delivered.append((result, text))

    log.info("notification (%s):\n%s", title, full)
    if not delivered:
        delivered.append((ChannelResult("log", ok=True, attempts=1), full))
        log.info("no notification channel configured (TG_TOKEN/TG_CHAT, RETRAIN_NOTIFY_URLS): logged only")
    for result, text in delivered:
        if result.ok:
            log.info("notification sent via %s (%d attempt(s))", result.channel, result.attempts)
        else:
            log.warning(
                "notification via %s failed after %d attempt(s): %s", result.channel, result.attempts, result.error
            )
        if text != full:
            log.warning("the message was shortened for %s: %d of %d characters", result.channel, len(text), len(full))
    if outbox is not None:
        record(Path(outbox), title, full, delivered, log)
    return [result for result, _ in delivered]
