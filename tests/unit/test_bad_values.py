"""Which database errors are the client's (a value it sent that PostgreSQL cannot store: 422
``invalid_value``) and which stay ours (500): ``gridmap.db.session.is_bad_value``, used by the
API's error handler and by publishing's database refusal."""

from __future__ import annotations

import psycopg
import psycopg.errors
from sqlalchemy.exc import DataError, IntegrityError

from gridmap.db.session import is_bad_value
from gridmap.services.boundaries import database_refusal


def _wrapped(orig: Exception) -> DataError:
    return DataError("INSERT …", {}, orig)


def test_values_the_database_cannot_store_are_the_clients():
    nul = psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")  # refused by psycopg itself
    assert is_bad_value(nul) and is_bad_value(_wrapped(nul))
    for error in (psycopg.errors.UntranslatableCharacter, psycopg.errors.NumericValueOutOfRange):
        assert is_bad_value(_wrapped(error("x")))
    assert not is_bad_value(_wrapped(psycopg.errors.DivisionByZero("x")))  # our SQL's fault
    assert not is_bad_value(ValueError("x")) and not is_bad_value(IntegrityError("x", {}, Exception()))


def test_a_publish_refused_by_the_database_for_a_value_is_a_422_and_names_no_driver_text():
    refused = database_refusal(_wrapped(psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")))
    assert (refused.code, refused.http_status) == ("invalid_value", 422)
    assert "PostgreSQL" not in refused.message
    other = database_refusal(_wrapped(psycopg.errors.DivisionByZero("division by zero")))
    assert (other.code, other.http_status) == ("database_error", 500)
