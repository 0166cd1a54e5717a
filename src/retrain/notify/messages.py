"""What the team reads: deploy messages, approval requests, failure alerts, drift alerts and manual
changes, each built once.

A message is a list of lines, each line a list of `Part`s. A part is either fixed (numbers, ids, the
`deploy_status=` line: what the message is for) or free text (a label, a model name, a reason, an
error line, a feature list), which can be long. `render(lines, limit)` fits a message into a
channel's limit (Telegram: 4,096 characters) by shortening the free-text parts first, the longest
first, each marked with `…`; only a message whose fixed parts alone exceed the limit is cut at the
end. So a 4,500-character label never pushes the metric, the threshold or `deploy_status=success`
out of a deploy message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from retrain.secrets import redact

ELLIPSIS = "…"
_ERROR_CHARS = 300  # an error's first line is cut to this length in alerts and results


@dataclass(frozen=True)
class Part:
    """A piece of a line: `free` text may be shortened to fit a channel, fixed text never is."""

    text: str
    free: bool = False


Lines = list[list[Part]]


class Message(Protocol):
    """Anything `notify.send` can send: its lines, with the free-text parts marked."""

    def lines(self) -> Lines: ...


def plain(text: str) -> Lines:
    """A message given as plain text: every line is free text (shortened evenly when too long)."""
    return [[Part(line, free=True)] for line in text.split("\n")]


def redact_lines(lines: Lines, secrets: Iterable[str]) -> Lines:
    """The same lines with every secret masked in every part (before fitting, so lengths are final)."""
    secrets = list(secrets)
    return [[Part(redact(p.text, secrets), p.free) for p in line] for line in lines]


def _shorten(text: str, cap: int) -> str:
    if len(text) <= cap:
        return text
    return text[: cap - 1] + ELLIPSIS if cap >= 1 else ""


def render(lines: Lines, limit: int | None = None) -> str:
    """The message as text of at most `limit` characters (None: no limit).

    Free-text parts are capped at one common length, the largest that makes the message fit (so the
    longest parts lose most and short ones nothing); each shortened part ends in `…`. When even empty
    free parts do not fit, the text is cut at the end and ends in `…`.
    """
    full = "\n".join("".join(p.text for p in line) for line in lines)
    if limit is None or len(full) <= limit:
        return full
    excess = len(full) - limit
    free = [len(p.text) for line in lines for p in line if p.free]

    def saved(cap: int) -> int:
        return sum(n - min(n, cap) for n in free)

    cap = None
    if free and saved(0) >= excess:
        low, high = 0, max(free)  # the largest cap that still saves enough: binary search
        while low < high:
            mid = (low + high + 1) // 2
            low, high = (mid, high) if saved(mid) >= excess else (low, mid - 1)
        cap = low
    if cap is None:
        shrunk = "\n".join("".join(p.text for p in line if not p.free) for line in lines)
        return shrunk if len(shrunk) <= limit else shrunk[: max(0, limit - 1)] + ELLIPSIS
    text = "\n".join("".join(_shorten(p.text, cap) if p.free else p.text for p in line) for line in lines)
    return text[:limit]  # a cap of 0 leaves no ellipsis, so the total may be a few characters short


def message_key(text: str) -> str:
    """A short, stable id of a message's full (redacted) text: what reruns compare in the outbox."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def first_line(error: BaseException | str, secrets: Iterable[str] = (), *, limit: int | None = None) -> str:
    """An error's first non-empty line (an exception as `Type: message`), redacted and cut short.

    Args:
        limit: The most characters kept (default `_ERROR_CHARS`, what a message has room for); 0 keeps
            the whole line (a terminal summary, which wraps it).
    """
    if isinstance(error, BaseException):
        message = str(error)
        error = f"{type(error).__name__}: {message}" if message else type(error).__name__
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    line = redact(lines[0] if lines else "unknown error", secrets)
    limit = _ERROR_CHARS if limit is None else limit
    return line if not limit or len(line) <= limit else line[: limit - 3] + "..."


class _Text:
    def lines(self) -> Lines:
        raise NotImplementedError

    def text(self, limit: int | None = None) -> str:
        """The message as text, fitted to `limit` characters when given (see `render`)."""
        return render(self.lines(), limit)


@dataclass(frozen=True)
class DeployMessage(_Text):
    """What the team reads after a deploy; the label and the model name are the free text."""

    model_name: str
    version: str
    label: str | None  # MODEL_VERSION, when set
    metric: str
    score: float
    threshold: float
    previous_score: float | None
    previous_version: str | None
    ds: str

    def lines(self) -> Lines:
        if self.previous_score is None:
            previous = [Part("previous champion: none")]
        else:
            of = f"version {self.previous_version} " if self.previous_version else ""
            previous = [Part(f"previous champion: {of}{self.metric}={self.previous_score:.4f}")]
        label = [Part(" (label "), Part(self.label, free=True), Part(")")] if self.label else []
        return [
            [
                Part(self.model_name, free=True),
                Part(f" version {self.version}"),
                *label,
                Part(f" deployed for {self.ds}"),
            ],
            [Part(f"{self.metric}={self.score:.4f} threshold={self.threshold:.4f}")],
            previous,
            [Part("deploy_status=success")],
        ]


def _ci(low: float | None, high: float | None, signed: bool = False) -> str:
    spec = "+.4f" if signed else ".4f"
    return "" if low is None or high is None else f"[{low:{spec}}, {high:{spec}}]"


@dataclass(frozen=True)
class ApprovalRequestMessage(_Text):
    """What the team reads when a challenger the gate accepted awaits a person's approval.

    The challenger's score with its interval, the champion's score and the interval of the gain over
    it (the numbers a person decides on), where to answer (the Airflow page of the approval task),
    until when, and who may answer. The model name, the URL and the approvers are the free text.
    """

    model_name: str
    ds: str
    trigger: str
    metric: str
    score: float
    threshold: float
    score_ci: tuple[float | None, float | None]  # the challenger's own score's interval
    champion_version: str | None
    champion_score: float | None
    gain_ci: tuple[float | None, float | None]  # the interval of challenger − champion
    confidence: float | None  # of both intervals, e.g. 0.95
    url: str
    deadline: str  # UTC, ISO 8601: no answer by then skips the deploy
    approvers: Sequence[str] = ()

    def lines(self) -> Lines:
        level = f"{self.confidence:.0%} CI " if self.confidence is not None else "CI "
        score_ci = _ci(*self.score_ci)
        score = f"{self.metric}={self.score:.4f}" + (f" ({level}{score_ci})" if score_ci else "")
        if self.champion_score is None:
            champion = [Part("champion: none yet")]
        else:
            gain = self.score - self.champion_score
            gain_ci = _ci(*self.gain_ci, signed=True)
            champion = [
                Part(
                    f"champion: version {self.champion_version} {self.metric}={self.champion_score:.4f}; "
                    f"gain {gain:+.4f}" + (f", {level}{gain_ci}" if gain_ci else "")
                )
            ]
        who = [Part(" by "), Part(", ".join(self.approvers), free=True)] if self.approvers else []
        return [
            [
                Part(self.model_name, free=True),
                Part(f": the challenger of {self.ds} (trigger={self.trigger}) passed the gate and awaits approval"),
            ],
            [Part(f"{score} threshold={self.threshold:.4f}")],
            champion,
            [Part("approve or reject: "), Part(self.url, free=True)],
            [Part("answer"), *who, Part(f" before {self.deadline}; without an answer the deploy is skipped")],
            [Part("deploy_status=awaiting_approval")],
        ]


@dataclass(frozen=True)
class FailureAlert(_Text):
    """What the team reads when a task fails: where, when, which try, and the error's first line."""

    dag_id: str
    task_id: str
    logical_date: str | datetime | None
    try_number: int | None
    error: BaseException | str
    log_url: str | None = None

    def lines(self, secrets: Iterable[str] = ()) -> Lines:
        lines = [
            [Part(f"FAILED: dag={self.dag_id} task={self.task_id}")],
            [Part(f"logical_date={self.logical_date} try={self.try_number}")],
            [Part("error: "), Part(first_line(self.error, secrets), free=True)],
        ]
        if self.log_url:
            lines.append([Part("log: "), Part(self.log_url, free=True)])
        return lines

    def text(self, secrets: Iterable[str] = (), limit: int | None = None) -> str:  # type: ignore[override]
        """The alert as text with `secrets` masked in the error line, fitted to `limit` when given."""
        return render(self.lines(secrets), limit)


@dataclass(frozen=True)
class ManualChangeMessage(_Text):
    """What the team reads after `retrain promote` or `retrain rollback`; the reason is the free text."""

    kind: Literal["promote", "rollback"]
    model_name: str
    version: str
    previous_version: str | None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("promote", "rollback"):
            raise ValueError(f"kind must be 'promote' or 'rollback', not {self.kind!r}")

    def lines(self) -> Lines:
        previous = f"version {self.previous_version}" if self.previous_version else "none"
        lines = [
            [
                Part(self.model_name, free=True),
                Part(f": manual {self.kind} to version {self.version} (previous champion: {previous})"),
            ],
            [Part(f"deploy_status={self.kind}")],
        ]
        if self.reason:
            lines.append([Part("reason: "), Part(self.reason, free=True)])
        return lines


@dataclass(frozen=True)
class DriftMessage(_Text):
    """What the team reads when sustained drift triggers a retrain; the feature list is the free text.

    `top` holds the most drifted features as dicts with `feature`, `psi` and `ks`.
    """

    model_name: str
    ds: str
    share: float  # fraction of features that drifted, 0..1
    champion_version: str | None
    reference: Sequence[str]  # first and last day of the champion's training window
    top: Sequence[dict[str, Any]]

    def lines(self) -> Lines:
        features = ", ".join(
            f"{f['feature']} (PSI {f['psi']}" + ("" if f.get("ks") is None else f", KS {f['ks']}") + ")"
            for f in self.top
        )
        return [
            [
                Part("DRIFT: "),
                Part(self.model_name, free=True),
                Part(
                    f" on {self.ds}: {self.share:.0%} of features drifted vs the champion v{self.champion_version} "
                    f"training window {self.reference[0]}..{self.reference[1]}"
                ),
            ],
            [Part("top: "), Part(features, free=True)],
            [Part("action: retrain triggered (trigger=drift)")],
        ]


@dataclass(frozen=True)
class PerformanceMessage(_Text):
    """What the team reads when a sustained drop of the champion's realised metric triggers a retrain."""

    model_name: str
    ds: str
    metric: str
    value: float | None
    threshold: float
    version: str | None
    rows: int

    def lines(self) -> Lines:
        value = "undefined" if self.value is None else f"{self.value:.4f}"
        return [
            [
                Part("PERFORMANCE: "),
                Part(self.model_name, free=True),
                Part(
                    f" v{self.version} realised {self.metric} {value} < threshold {self.threshold:.4f} "
                    f"on {self.ds} ({self.rows} labelled rows), sustained"
                ),
            ],
            [Part("action: retrain triggered (trigger=performance)")],
        ]


@dataclass(frozen=True)
class NewClassMessage(_Text):
    """What the team reads when a landed day holds a label no earlier day held; the labels are free text."""

    model_name: str
    ds: str
    classes: Sequence[str]
    known: Sequence[str]

    def lines(self) -> Lines:
        return [
            [Part("NEW CLASS: "), Part(self.model_name, free=True), Part(f" data of {self.ds} holds label(s) ")],
            [Part(", ".join(repr(c) for c in self.classes), free=True)],
            [Part("never seen in earlier days (known: "), Part(", ".join(self.known), free=True), Part(")")],
            [Part("action: the next retrain learns it; the champion cannot predict it until then")],
        ]
