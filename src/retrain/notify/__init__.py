"""Notifications: messages (`messages`), delivery to Telegram, apprise URLs and the log (`channels`), the outbox.

`from retrain.notify import send, DeployMessage, ...` is the public face; `send` is looked up here at
call time by its callers (the fault suite patches `retrain.notify:send`).
"""

from retrain.notify.channels import BACKOFF_BASE, MAX_DELAY, TELEGRAM_MAX_CHARS, ChannelResult, send
from retrain.notify.messages import (
    ApprovalRequestMessage,
    DeployMessage,
    DriftMessage,
    FailureAlert,
    ManualChangeMessage,
    Message,
    NewClassMessage,
    Part,
    PerformanceMessage,
    first_line,
    render,
)
from retrain.notify.outbox import already_sent, read_outbox

__all__ = [
    "BACKOFF_BASE",
    "MAX_DELAY",
    "TELEGRAM_MAX_CHARS",
    "ApprovalRequestMessage",
    "ChannelResult",
    "DeployMessage",
    "DriftMessage",
    "FailureAlert",
    "ManualChangeMessage",
    "Message",
    "NewClassMessage",
    "Part",
    "PerformanceMessage",
    "already_sent",
    "first_line",
    "read_outbox",
    "render",
    "send",
]
