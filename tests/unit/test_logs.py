"""Structured log lines: the fields of an event come after its message as key=value."""

from __future__ import annotations

import logging

from gridmap.logs import KeyValueFormatter, event, get_logger


def test_an_event_is_one_line_with_its_fields():
    log = get_logger("test")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        event(log, "publish", root="411628001", version=12, reason="按街道调整", ms=580.25)
        event(log, "status", level=logging.DEBUG, applied=3)  # below the level: not made
    finally:
        log.removeHandler(handler)
    assert len(records) == 1
    line = KeyValueFormatter().format(records[0])
    assert line.endswith("gridmap.test publish root=411628001 version=12 reason=按街道调整 ms=580.2")
    assert " INFO " in line


def test_fields_with_spaces_are_quoted_and_plain_records_have_none():
    record = logging.LogRecord("gridmap.x", logging.INFO, __file__, 1, "upload", None, None)
    assert KeyValueFormatter().format(record).endswith("gridmap.x upload")
    record.gridmap_fields = {"file": "网格 边界.zip", "empty": ""}
    assert KeyValueFormatter().format(record).endswith('upload file="网格 边界.zip" empty=""')


def test_the_server_logging_config_adds_the_gridmap_logger_to_uvicorns(capsys):
    import logging.config

    import uvicorn.config

    from gridmap.logs import with_gridmap_logger

    config = with_gridmap_logger(uvicorn.config.LOGGING_CONFIG)
    assert set(uvicorn.config.LOGGING_CONFIG["loggers"]) < set(config["loggers"])  # uvicorn's kept
    assert "gridmap" not in uvicorn.config.LOGGING_CONFIG["loggers"]  # the original is not changed
    logging.config.dictConfig(config)
    try:
        event(get_logger("services.changes"), "change", kind="publish", revision=7)
        assert capsys.readouterr().err.rstrip().endswith("gridmap.services.changes change kind=publish revision=7")
    finally:
        logging.getLogger("gridmap").handlers.clear()
        logging.getLogger("gridmap").propagate = True
        logging.getLogger("gridmap").setLevel(logging.NOTSET)


def test_access_lines_never_carry_a_token_from_the_url():
    import uvicorn.config

    from gridmap.logs import RedactTokens, redact, with_gridmap_logger

    assert redact("/tiles/grid/12/1/2.mvt?v=3&token=gm_secret&x=1") == "/tiles/grid/12/1/2.mvt?v=3&token=***&x=1"
    assert redact("/embed?TOKEN=gm_a") == "/embed?TOKEN=***"
    # Every spelling the server reads as token=: repeated, URL-encoded names, after ; or a stray ?.
    assert redact("/e?token=gm_1&x=1&token=gm_2") == "/e?token=***&x=1&token=***"
    assert redact("/e?to%6Ben=gm_3&%74oken=gm_4") == "/e?to%6Ben=***&%74oken=***"
    assert redact("/e?x=1;token=gm_5") == "/e?x=1;token=***"
    assert redact("/e?a?token=gm_6") == "/e?a?token=***"
    assert redact("/e?a=1#&token=gm_7") == "/e?a=1#&token=***"
    assert redact('GET /e?token=gm_8 HTTP/1.1" 200') == 'GET /e?token=*** HTTP/1.1" 200'
    assert redact("/e?tokens=1&mytoken=2&token") == "/e?tokens=1&mytoken=2&token"  # not a token parameter
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/embed?theme=dark&token=gm_live_secret", "1.1", 200), None,
    )  # fmt: skip
    assert RedactTokens().filter(record)
    assert "gm_live_secret" not in record.getMessage() and "token=***" in record.getMessage()
    config = with_gridmap_logger(uvicorn.config.LOGGING_CONFIG)
    assert "redact_tokens" in config["loggers"]["uvicorn.access"]["filters"]
