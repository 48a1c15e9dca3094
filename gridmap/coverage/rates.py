"""Rollout and online rates, as counties report them.

安装率 (rollout rate) = installed / planned; 上云率 (online rate) = online / installed.
A zero denominator has no rate: None, never 0% or 100%.
"""

from __future__ import annotations


def rate(numerator: int, denominator: int) -> float | None:
    """``numerator / denominator`` as a fraction, or None when the denominator is zero."""
    return numerator / denominator if denominator else None


def percent(value: float | None) -> str:
    """A fraction as a percentage to two decimals ("95.51%"); "—" when there is no rate."""
    return "—" if value is None else f"{value * 100:.2f}%"
