"""The XCom face of the jobs' typed results: frozen dataclasses to and from small JSON dicts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any, TypeVar

_P = TypeVar("_P", bound="Payload")


class Payload:
    """Mixin for a job's frozen dataclass that XCom carries as a dict (never pickled)."""

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (nested lists and dicts copied), ready for XCom."""
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[_P], data: Mapping[str, Any]) -> _P:
        """The inverse of `to_dict`; keys this class does not know (older or richer payloads) are ignored."""
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})
