"""Deploy messages and failure alerts, sent to Telegram and to any apprise URL.

Telegram goes through a plain httpx client (`POST {api}/bot{token}/sendMessage`) because apprise's
Telegram plugin cannot point at another Bot API host (a self-hosted server, or a local stand-in in
tests). Every other channel is an apprise URL from `RETRAIN_NOTIFY_URLS`. With no channel configured
the message goes to the log, so the task log and the console still show it.

A failing channel is retried with exponential backoff (a 429 waits as long as the server asks, up to a
cap), then reported: `send` never raises for a channel, because a notification must never undo a
deploy. Nothing it logs, returns or records contains a secret.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx

from retrain.secrets import redact, redacting_loggers, secret_values

if TYPE_CHECKING:
    from retrain.settings import Settings

_LOG = logging.getLogger(__name__)

BACKOFF_BASE = 1.0  # seconds before the first retry; doubled for each further one
MAX_DELAY = 60.0  # the longest wait between two attempts, whatever a server asks for
TELEGRAM_MAX_CHARS = 4096  # Bot API limit for one message
_ERROR_CHARS = 300  # an error's first line is cut to this length in alerts and results

Logger = logging.Logger | logging.LoggerAdapter  # type: ignore[type-arg]


# --- messages ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeployMessage:
    """What the team reads after a deploy."""

    model_name: str
    version: str
    label: str | None  # MODEL_VERSION, when set
    metric: str
    score: float
    threshold: float
    previous_score: float | None
    previous_version: str | None
    ds: str

    def text(self) -> str:
        label = f" (label {self.label})" if self.label else ""
        if self.previous_score is None:
            previous = "previous champion: none"
        else:
            of = f"version {self.previous_version} " if self.previous_version else ""
            previous = f"previous champion: {of}{self.metric}={self.previous_score:.4f}"
        return (
            f"{self.model_name} version {self.version}{label} deployed for {self.ds}\n"
            f"{self.metric}={self.score:.4f} threshold={self.threshold:.4f}\n"
            f"{previous}\n"
            "deploy_status=success"
        )


def first_line(error: BaseException | str, secrets: Iterable[str] = ()) -> str:
    """An error's first non-empty line (an exception as `Type: message`), redacted and cut short."""
    if isinstance(error, BaseException):
        message = str(error)
        error = f"{type(error).__name__}: {message}" if message else type(error).__name__
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    line = redact(lines[0] if lines else "unknown error", secrets)
    return line if len(line) <= _ERROR_CHARS else line[: _ERROR_CHARS - 3] + "..."


@dataclass(frozen=True)
class FailureAlert:
    """What the team reads when a task fails: where, when, which try, and the error's first line."""

    dag_id: str
    task_id: str
    logical_date: str | datetime | None
    try_number: int | None
    error: BaseException | str
    log_url: str | None = None

    def text(self, secrets: Iterable[str] = ()) -> str:
        lines = [
            f"FAILED: dag={self.dag_id} task={self.task_id}",
            f"logical_date={self.logical_date} try={self.try_number}",
            f"error: {first_line(self.error, secrets)}",
        ]
        if self.log_url:
            lines.append(f"log: {self.log_url}")
        return "\n".join(lines)


@dataclass(frozen=True)
class ManualChangeMessage:
    """What the team reads after `retrain promote` or `retrain rollback`."""

    kind: Literal["promote", "rollback"]
    model_name: str
    version: str
    previous_version: str | None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("promote", "rollback"):
            raise ValueError(f"kind must be 'promote' or 'rollback', not {self.kind!r}")

    def text(self) -> str:
        previous = f"version {self.previous_version}" if self.previous_version else "none"
        lines = [
            f"{self.model_name}: manual {self.kind} to version {self.version} (previous champion: {previous})",
            f"deploy_status={self.kind}",
        ]
        if self.reason:
            lines.append(f"reason: {self.reason}")
        return "\n".join(lines)


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
    payload = {"chat_id": settings.telegram_chat, "text": text[:TELEGRAM_MAX_CHARS]}
    with httpx.Client(timeout=settings.notify_timeout) as client:
        return _with_retries(lambda: _telegram_attempt(client, url, payload), settings.notify_retries, **retry)


def _send_apprise(settings: Settings, url: str, title: str, text: str, **retry: Any) -> tuple[bool, int, str | None]:
    import apprise  # only paid for when an apprise URL is configured

    app = apprise.Apprise()
    if not app.add(url):
        return False, 0, "invalid or unsupported apprise URL"

    def attempt() -> _Outcome:
        result = app.notify(body=text, title=title, timeout=settings.notify_timeout)
        if result:
            return _Outcome(True)
        problems = [e.message for e in result.logs() if e.level in ("WARNING", "ERROR", "CRITICAL")]
        return _Outcome(False, problems[-1] if problems else f"apprise status {result.status.name}", retry=True)

    return _with_retries(attempt, settings.notify_retries, **retry)


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
    text: str,
    *,
    title: str = "retrain",
    logger: Logger | None = None,
    outbox: Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
    backoff_base: float = BACKOFF_BASE,
    max_delay: float = MAX_DELAY,
) -> list[ChannelResult]:
    """Send `text` to every configured channel and report each one; never raises for a channel.

    Channels: Telegram (when a token and chat are set), each apprise URL in `notify_urls`, or, with
    none configured, the log (channel `"log"`). Each channel is tried `1 + notify_retries` times at
    most, waiting `backoff_base * 2**n` seconds (or a 429's `retry_after`), never more than `max_delay`.
    The message, redacted, is logged at INFO; a failed channel at WARNING. With `outbox`, one JSON line
    (time, title, text, results) is appended to that file.
    """
    log = logger or _LOG
    secrets = secret_values(settings)
    text = redact(text, secrets)
    title = redact(title, secrets)
    retry: dict[str, Any] = {"sleep": sleep, "backoff_base": backoff_base, "max_delay": max_delay}
    results: list[ChannelResult] = []
    with redacting_loggers(secrets):
        if settings.telegram_token and settings.telegram_chat:
            results.append(_guarded("telegram", secrets, lambda: _send_telegram(settings, text, **retry)))
        taken: set[str] = set()
        for secret_url in settings.notify_urls:
            url = secret_url.get_secret_value()
            channel = _apprise_channel(url, secrets, taken)
            results.append(
                _guarded(channel, secrets, lambda url=url: _send_apprise(settings, url, title, text, **retry))
            )

    log.info("notification (%s):\n%s", title, text)
    if not results:
        results.append(ChannelResult("log", ok=True, attempts=1))
        log.info("no notification channel configured (TG_TOKEN/TG_CHAT, RETRAIN_NOTIFY_URLS): logged only")
    for result in results:
        if result.ok:
            log.info("notification sent via %s (%d attempt(s))", result.channel, result.attempts)
        else:
            log.warning(
                "notification via %s failed after %d attempt(s): %s", result.channel, result.attempts, result.error
            )
    if outbox is not None:
        _record(Path(outbox), title, text, results, log)
    return results


def _record(outbox: Path, title: str, text: str, results: list[ChannelResult], log: Logger) -> None:
    """Append the sent message as one JSON line; a full disk must not fail the task either."""
    line = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "title": title,
        "text": text,
        "channels": [asdict(result) for result in results],
    }
    try:
        outbox.parent.mkdir(parents=True, exist_ok=True)
        with open(outbox, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, sort_keys=True) + "\n")
    except OSError as exc:
        log.warning("could not record the notification in %s: %s", outbox, exc)


def read_outbox(outbox: Path) -> list[dict[str, Any]]:
    """The messages recorded by `send`, oldest first (none when the file does not exist)."""
    path = Path(outbox)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
