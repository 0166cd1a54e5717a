"""Shared by the notify tests: a proxy-free loopback, settings with short retries, the Bot API stand-in."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.helpers.telegram_server import telegram_server  # noqa: F401

from retrain.settings import Settings, load_settings

TOKEN = "987654321:AAF-secretTOKENvalue_0123456789abcd"
CHAT = "-1001234567"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests to 127.0.0.1 must never be routed through a proxy from the developer's shell."""
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def make_settings(retrain_env: dict[str, str]) -> Callable[..., Settings]:
    def make(**env: str) -> Settings:
        return load_settings({**retrain_env, "RETRAIN_NOTIFY_RETRIES": "3", "RETRAIN_NOTIFY_TIMEOUT": "2", **env})

    return make


def telegram_env(url: str, **extra: str) -> dict[str, str]:
    return {"TG_TOKEN": TOKEN, "TG_CHAT": CHAT, "TG_API_URL": url, **extra}


class Sleeps(list):
    """An injected `sleep` that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
