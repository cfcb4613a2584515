"""Log lines carry Flux's field names."""

from __future__ import annotations

import io
import json
import logging as std_logging

import pytest

from shared.runtime import logging
from tests.runtime.conftest import configured_logging


def _lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_json_lines_have_level_ts_msg_and_bound_fields(stream: io.StringIO) -> None:
    log = logging.get_logger()
    with logging.bound(
        controllerKind="GitRepository", name="podinfo", namespace="default", reconcileID="abc"
    ):
        log.info("stored artifact", revision="main@sha1:1234")
    log.info("outside")

    first, second = _lines(stream)
    assert first["level"] == "info"
    assert first["msg"] == "stored artifact"
    assert str(first["ts"]).endswith("Z")
    assert first["controllerKind"] == "GitRepository"
    assert first["reconcileID"] == "abc"
    assert first["revision"] == "main@sha1:1234"
    assert "controllerKind" not in second


def test_errors_are_logged_by_message(stream: io.StringIO) -> None:
    logging.get_logger().error("reconcile failed", error=ValueError("bad url"))

    (line,) = _lines(stream)
    assert (line["level"], line["error"]) == ("error", "bad url")


def test_debug_is_filtered_at_info(stream: io.StringIO) -> None:
    logging.get_logger().debug("noise")

    assert _lines(stream) == []


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        logging.configure(level="loud")


def test_standard_library_records_become_one_json_line_each(stream: io.StringIO) -> None:
    server = std_logging.getLogger("aiohttp.server")
    try:
        raise ValueError("bad\nrequest")
    except ValueError as error:
        server.exception("Error handling request from %s", "127.0.0.1", exc_info=error)
    std_logging.getLogger("aiohttp.access").info("served", extra={"path": "/a.tar.gz"})
    std_logging.getLogger("aiohttp.web").debug("noise")

    output = stream.getvalue()
    assert len(output.splitlines()) == 2, output
    failure, access = _lines(stream)
    assert failure["level"] == "error"
    assert failure["logger"] == "aiohttp.server"
    assert failure["msg"] == "Error handling request from 127.0.0.1"
    assert failure["error"] == "bad\nrequest"
    assert "Traceback" in str(failure["exception"])
    assert (access["logger"], access["path"], access["msg"]) == (
        "aiohttp.access",
        "/a.tar.gz",
        "served",
    )


def test_debug_shows_our_and_aiohttp_records_but_not_other_libraries() -> None:
    buffer = io.StringIO()
    with configured_logging("debug", buffer):
        std_logging.getLogger("aiohttp.server").debug("Ignored premature client disconnection")
        std_logging.getLogger("shared.artifacts.serving").debug("download ended early")
        std_logging.getLogger("kubernetes_asyncio.client.rest").debug("response body: secret")
        std_logging.getLogger("kubernetes_asyncio.client.rest").info("kept")

    assert [line["msg"] for line in _lines(buffer)] == [
        "Ignored premature client disconnection",
        "download ended early",
        "kept",
    ]
