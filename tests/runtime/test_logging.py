"""Log lines carry Flux's field names."""

from __future__ import annotations

import io
import json

import pytest

from shared.runtime import logging


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
