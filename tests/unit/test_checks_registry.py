"""The boundary checks are a registry: every kind of finding is made by exactly one registered
check, and every kind a check declares is one the report knows (label, severity, colour)."""

from __future__ import annotations

from collections import Counter

from gridmap.geometry.report import DATABASE_KINDS, ERROR, KINDS, WARNING
from gridmap.geometry.validate import CHECKS


def test_every_kind_belongs_to_exactly_one_check():
    declared = Counter(kind for check in CHECKS for kind in check.kinds)
    # every kind is a file check's, or one found against the live database (placement)
    assert set(declared) | set(DATABASE_KINDS) == set(KINDS) and not set(declared) & set(DATABASE_KINDS)
    assert all(n == 1 for n in declared.values()), declared


def test_every_kind_has_a_label_a_severity_and_a_colour():
    for kind in KINDS.values():
        assert kind.label and kind.severity in (ERROR, WARNING)
        assert kind.colour.startswith("#") and len(kind.colour) == 7
    assert len({k.colour for k in KINDS.values()}) == len(KINDS)  # each kind tells apart on a map
