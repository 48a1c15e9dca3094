"""Locally numbered areas get standard codes from their parent's (gridmap.geometry.local_codes)."""

from __future__ import annotations

import numpy as np

from gridmap.geometry.local_codes import KnownCodes, known_from_rows, local_counties, localize

V = "411628001001"  # a village


def arr(*values):
    return np.array(values, dtype=object)


def test_local_grids_and_their_micro_grids_are_numbered_under_their_parents():
    codes = arr("WG10", "WG2", V + "001", "MG-b", "MG-a", "X9")
    parents = arr(V, V, V, "WG2", "WG2", "NOPE")
    done = localize(codes, parents)
    # WG2 before WG10 (natural order); 001 is taken by the file's own standard grid
    assert list(done.codes[:3]) == [V + "003", V + "002", V + "001"]
    assert list(done.codes[3:5]) == [V + "002002", V + "002001"]
    assert list(done.parents[3:5]) == [V + "002", V + "002"]
    assert done.codes[5] == "X9" and done.local[5] is None  # parent unknown: left for the validator
    assert list(done.local[:2]) == ["WG10", "WG2"] and done.local[2] is None
    assert done.notes and "本地编码" in done.notes[0]
    assert local_counties(codes, parents) == ["411628"]


def test_codes_given_before_are_kept_and_live_numbers_are_not_reused():
    known = known_from_rows({V: [(V + "001", "WG2"), (V + "002", None), (V + "005", "WG7")]})
    done = localize(arr("WG7", "WG2", "WG3"), arr(V, V, V), known)
    assert list(done.codes) == [V + "005", V + "001", V + "003"]  # 002 is live (no local code)


def test_a_file_of_standard_codes_is_left_as_it_is():
    codes, parents = arr(V + "001", V + "002"), arr(V, V)
    done = localize(codes, parents, KnownCodes())
    assert list(done.codes) == list(codes) and not done.notes and local_counties(codes, parents) == []
