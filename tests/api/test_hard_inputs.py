"""Hard to break (issue 13): inputs that used to answer 500, or could hang, and what they answer
now — each a 4xx with the standard error body (or a 2xx that rejects the row), never a 5xx.

Found by fuzzing (``test_fuzz.py``, ``benchmarks/fuzz.py``) and by probing what the fuzz cannot
generate from the OpenAPI document: malformed multipart bodies, bodies that stop arriving, odd
``Authorization`` headers, non-UTF-8 bytes and control characters in query strings, lone
surrogates and NUL characters inside JSON and files, dates outside what a timestamp can hold.
Runs on a database of its own (some of these write).
"""

from __future__ import annotations

import json
import re
import socket
import time

import pytest
from api_server import client, serve
from api_tokens import make_token
from conftest import loaded_database

DEVICE = "41162800011318000001"  # a camera of the sample county
CSV_HEAD = "设备编码,设备名称,经度,纬度,安装状态"
_CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def server():
    _, engine = loaded_database("gridmap_test_hard")
    admin = make_token(engine, "admin", name="hard-inputs-admin")
    with serve(engine, body_idle_s=1.0) as base:
        yield base, admin
    engine.dispose()


@pytest.fixture()
def http(server):
    base, admin = server
    with client(base, admin) as c:
        yield c


def refused(r, status: int | tuple[int, ...], code: str | None = None) -> dict:
    """``r`` is a refusal with the standard error body (and nosniff)."""
    statuses = (status,) if isinstance(status, int) else status
    assert r.status_code in statuses, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["x-content-type-options"] == "nosniff"
    body = r.json()
    assert set(body) == {"code", "message", "detail"} and _CJK.search(body["message"]), body
    if code is not None:
        assert body["code"] == code, body
    return body


# --------------------------------------------------------------------------- malformed multipart

B = "xyz"
MULTIPART = {"Content-Type": f"multipart/form-data; boundary={B}"}


def _part(name: str, value: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--{B}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"


FILE = _part("file", f"{CSV_HEAD}\n{DEVICE},名字,115.5,33.9,已安装\n".encode(), "a.csv")
MALFORMED = {
    "no boundary": (b"abc", {"Content-Type": "multipart/form-data"}),
    "boundary but garbage": (b"garbage\r\n\r\n", MULTIPART),
    "truncated in the file": (FILE[:60], MULTIPART),
    "truncated in the part headers": (b"--xyz\r\nContent-Disposition: form-da", MULTIPART),
    "part without disposition": (b"--xyz\r\nX: y\r\n\r\nabc\r\n--xyz--\r\n", MULTIPART),
    "json instead of a form": (b'{"file": 1}', {"Content-Type": "application/json"}),
    "text instead of a form": (b"hello", {"Content-Type": "text/plain"}),
    "urlencoded with bad utf-8": (b"file=%ff%fe&crs=%ff", {"Content-Type": "application/x-www-form-urlencoded"}),
    "file field sent as text": (_part("file", b"abc") + b"--xyz--\r\n", MULTIPART),
    "huge part header": (
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\nX-Big: '
        + b"a" * 200_000
        + b"\r\n\r\nabc\r\n--xyz--\r\n",
        MULTIPART,
    ),
    "many parts": (b"".join(_part(f"f{i}", b"v") for i in range(2000)) + b"--xyz--\r\n", MULTIPART),
    "many files": (b"".join(_part("file", b"v", f"f{i}.csv") for i in range(2000)) + b"--xyz--\r\n", MULTIPART),
    "boundary too long": (b"--" + b"x" * 300 + b"\r\n", {"Content-Type": "multipart/form-data; boundary=" + "x" * 300}),
    "empty body": (b"", MULTIPART),
}
UPLOADS = ["/api/v1/uploads/boundaries", "/api/v1/uploads/cameras", "/api/v1/cameras/status"]


@pytest.mark.parametrize("path", UPLOADS)
@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_form_is_a_4xx_with_the_error_body_and_no_hang(http, path, case):
    content, headers = MALFORMED[case]
    started = time.monotonic()
    r = http.post(path, content=content, headers=headers)
    assert time.monotonic() - started < 10
    refused(r, (400, 413, 415, 422))


def test_non_utf8_and_nul_in_form_fields_and_file_names_are_refused_or_kept_readable(http):
    body = (
        _part("crs", b"\xff\xfe") + _part("sheet", b"\x00") + FILE.replace(b"a.csv", b"a\xff\x00.csv") + b"--xyz--\r\n"
    )
    refused(http.post("/api/v1/uploads/cameras", content=body, headers=MULTIPART), 422)
    # A NUL in a form value the database would store (the sheet name) used to be a 500.
    body = _part("sheet", b"a\x00b") + FILE + b"--xyz--\r\n"
    refused(http.post("/api/v1/uploads/cameras", content=body, headers=MULTIPART), 422, "invalid_value")


def _raw(base: str, request: bytes, wait: float = 10) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


@pytest.mark.parametrize("path", ["/api/v1/uploads/cameras", "/api/v1/cameras/status"])
def test_a_body_that_stops_arriving_is_a_408_not_a_hang(server, path):
    base, admin = server
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n"
        f"Content-Type: multipart/form-data; boundary={B}\r\nContent-Length: 100000\r\n\r\n"
    ).encode()
    started = time.monotonic()
    answer = _raw(base, head + FILE[:80])  # the client keeps the connection open, sends no more
    assert time.monotonic() - started < 8
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 408 Request Timeout", answer[:300]
    assert b"x-content-type-options: nosniff" in rest.lower()
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["code"] == "request_timeout"


def test_a_client_that_goes_away_mid_body_is_no_error(server, http):
    base, admin = server
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(
            f"POST /api/v1/cameras/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n"
            "Content-Type: text/csv\r\nContent-Length: 1000\r\n\r\nabc".encode()
        )
        s.shutdown(socket.SHUT_WR)
        assert s.recv(1000) == b""  # nothing to answer: the server neither answers nor fails
    assert http.get("/healthz").status_code == 200


# --------------------------------------------------------------------------- headers and queries


@pytest.mark.parametrize(
    "value, code",
    [
        ("Basic Zm9vOmJhcg==", "token_malformed"),
        ("Bearer", "token_malformed"),
        ("Bearer\ta", "token_malformed"),
        ("Bearer    a b   c", "token_invalid"),
        ("Bearer " + "a" * 60_000, "token_invalid"),
        ("Bearer \xe9\xff", "token_invalid"),  # bytes over 0x7f (obs-text), read as Latin-1
        ("Bearer a\x01\x7fb", "token_invalid"),  # control characters h11 lets through
    ],
)
def test_odd_authorization_headers_are_401_with_the_error_body(server, value, code):
    base, _ = server
    answer = _raw(
        base,
        f"GET /api/v1/summary HTTP/1.1\r\nHost: x\r\nAuthorization: {value}\r\nConnection: close\r\n\r\n".encode(
            "latin-1"
        ),
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401"), answer[:200]
    assert json.loads(body)["code"] == code


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/search?q=%ff%fe",
        "/api/v1/search?q=%01%1b%7f",
        "/api/v1/areas/%01%1b",
        "/api/v1/areas/%ff%fe",
        "/tiles/%ff/1/1/1.mvt",
        "/tiles/county/0/0/0.mvt?token=%e9%ff",
        "/tiles/county/0/0/0.mvt?token=a&token=b",
        "/embed?token=%ed%a0%80",
        "/static/%2e%2e/%2e%2e/pyproject.toml",
    ],
)
def test_control_characters_and_non_utf8_bytes_in_urls_are_never_a_5xx(server, url):
    base, _ = server
    answer = _raw(base, f"GET {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    status = int(answer.split(b" ", 2)[1])
    assert status < 500 and b"x-content-type-options: nosniff" in answer.lower(), answer[:300]


# --------------------------------------------------------------------------- JSON and file contents


def test_a_lone_surrogate_in_json_is_a_422_not_a_500(http):
    # Status reports: "\ud800" parses to a str no UTF-8 answer can hold (was: 500 UnicodeEncodeError).
    body = b'[{"device_id": "\\ud800", "online": true}]'
    refused(
        http.post("/api/v1/cameras/status", content=body, headers={"Content-Type": "application/json"}),
        422,
        "unreadable",
    )
    # The publish body: pydantic refuses it, and the refusal echoes it back (was: 500 rendering that echo).
    r = http.post(
        "/api/v1/uploads/1/publish", content=b'{"reason": "\\ud800"}', headers={"Content-Type": "application/json"}
    )
    assert refused(r, 422, "invalid_request")["detail"][0]["where"] == "body.reason"
    # A camera register as GeoJSON (was: 500 when the name reached the database).
    geojson = (
        b'{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point",'
        b'"coordinates":[115.5,33.9]},"properties":{"device_id":"' + DEVICE.encode() + b'","name":"a\\ud800b",'
        b'"status":"installed"}}]}'
    )
    refused(http.post("/api/v1/uploads/cameras", files={"file": ("a.geojson", geojson)}), 422, "unreadable")
    # A column mapping naming a surrogate: the refusal names it, in ASCII escapes (was: 500).
    fields = {"fields": '{"code": "\\ud800"}'}
    county = open_county()
    refused(
        http.post("/api/v1/uploads/boundaries", files={"file": ("c.geojson", county)}, data=fields),
        422,
        "field_not_found",
    )


def open_county() -> bytes:
    from conftest import DATA_DIR

    return (DATA_DIR / "luyi_geojson" / "county.geojson").read_bytes()


def test_a_deeply_nested_geojson_register_is_a_422(http):
    refused(http.post("/api/v1/uploads/cameras", files={"file": ("a.geojson", b"[" * 100_000)}), 422, "unreadable")


@pytest.mark.parametrize(
    "at",
    ["0000-01-01", "9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+14:00", "1677-09-21 00:12:44", "2262-04-12",
     "1" + "0" * 400, "99999999999999999999"],
)  # fmt: skip
def test_report_times_no_timestamp_can_hold_reject_the_row(http, at):
    # Were 500s (OverflowError / OutOfBoundsDatetime converting to nanoseconds).
    raw = f'[{{"device_id": "{DEVICE}", "online": true, "at": {at if at.isdigit() else json.dumps(at)}}}]'
    r = http.post("/api/v1/cameras/status", content=raw.encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text[:300]
    assert [p["code"] for p in r.json()["rejected"]] == ["time_invalid"]


def test_an_install_date_of_year_zero_rejects_the_row(http):
    csv = f"{CSV_HEAD},安装日期\n{DEVICE},名字,115.5,33.9,已安装,0000-01-01\n".encode()
    r = http.post("/api/v1/uploads/cameras", files={"file": ("a.csv", csv)})  # was: 500 (NotImplementedError)
    assert r.status_code == 201, r.text[:300]
    assert [p["code"] for p in r.json()["rejected"]] == ["date_invalid"]


@pytest.mark.parametrize(
    "csv",
    [
        f"{CSV_HEAD}\n{DEVICE},名\x00字,115.5,33.9,已安装\n",  # NUL in a name (was: 500, psycopg DataError)
        f"{CSV_HEAD}\n4116280001131800\x0001,名字,115.5,33.9,已安装\n",  # in a rejected id, kept in the report (22P05)
    ],
    ids=["in-a-name", "in-a-rejected-id"],
)
def test_a_nul_character_in_a_register_is_a_422(http, csv):
    refused(http.post("/api/v1/uploads/cameras", files={"file": ("a.csv", csv.encode())}), 422, "invalid_value")


@pytest.mark.parametrize("encoding", ["gb\x00k", "rot13", "base64"])
def test_an_encoding_that_is_no_text_encoding_is_a_422(http, encoding):
    # "gb\x00k" was a 500 (ValueError: embedded null character in codecs.lookup).
    r = http.post(
        "/api/v1/uploads/boundaries", files={"file": ("c.geojson", open_county())}, data={"encoding": encoding}
    )
    refused(r, 422, "encoding_unknown")


def test_a_nul_in_a_publish_reason_is_refused_before_any_work(http):
    r = http.post("/api/v1/versions/1/rollback", json={"force": True, "reason": "a\x00b"})  # was: 500 at the INSERT
    assert refused(r, 422, "invalid_request")["detail"][0]["where"] == "body.reason"
