"""`free_port` hands out ports a client connection cannot take before the service binds them."""

from __future__ import annotations

import socket

import pytest

from retrain.ops import supervisor
from retrain.ops.supervisor import ServiceError, free_port


def test_a_free_port_is_outside_the_ephemeral_range_and_bindable() -> None:
    low, high = supervisor._ephemeral_range()

    ports = {free_port() for _ in range(20)}

    assert all(not low <= port <= high for port in ports)
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_someone_listens_on_is_not_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        busy = taken.getsockname()[1]
        monkeypatch.setattr(supervisor, "_ephemeral_range", lambda: (busy + 1, 60999))
        monkeypatch.setattr(supervisor.random.SystemRandom, "choice", lambda self, seq: busy)

        with pytest.raises(ServiceError, match="no free TCP port"):
            free_port()
