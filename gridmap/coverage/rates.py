"""Rollout and online rates, as counties report them.

安装率 (rollout rate) = installed / planned; 上云率 (online rate) = online / installed.
A zero denominator has no rate: None, never 0% or 100%.
"""

from __future__ import annotations

from dataclasses import dataclass


def rate(numerator: int, denominator: int) -> float | None:
    """``numerator / denominator`` as a fraction, or None when the denominator is zero."""
    return numerator / denominator if denominator else None


def percent(value: float | None) -> str:
    """A fraction as a percentage to two decimals ("95.51%"); "—" when there is no rate."""
    return "—" if value is None else f"{value * 100:.2f}%"


@dataclass(frozen=True)
class Counts:
    """Planned, installed and online cameras of an area (or a batch), with their rates."""

    planned: int = 0
    installed: int = 0
    online: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.planned + other.planned, self.installed + other.installed, self.online + other.online)

    @property
    def rollout_rate(self) -> float | None:
        """安装率 = installed / planned (fraction), None when nothing is planned."""
        return rate(self.installed, self.planned)

    @property
    def online_rate(self) -> float | None:
        """上云率 = online / installed (fraction), None when nothing is installed."""
        return rate(self.online, self.installed)
