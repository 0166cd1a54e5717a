"""Headless Chromium as the browser tests start it: Debian's package, no network of its own."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

# Without the background-networking flags Chromium keeps dialling out (update checks, sync), which
# this machine's closed network refuses; a fresh profile keeps runs independent.
HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
)


def headless_flags(user_data: Path) -> list[str]:
    return [*HEADLESS_FLAGS, f"--user-data-dir={user_data}"]
