"""Durations written as Go's ``time.Duration.String()`` writes them."""

from __future__ import annotations

import pytest

from shared.api import meta


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (150e-9, "150ns"),
        (1.5e-6, "1.5µs"),
        (0.15, "150ms"),
        (0.075190237, "75.190237ms"),
        (1.5, "1.5s"),
        (45, "45s"),
        (90, "1m30s"),
        (123, "2m3s"),
        (300, "5m0s"),
        (3600, "1h0m0s"),
        (5400, "1h30m0s"),
        (7200, "2h0m0s"),
        (3661.001, "1h1m1.001s"),
        (-1.5, "-1.5s"),
    ],
)
def test_format_duration_matches_go(seconds: float, text: str) -> None:
    assert meta.format_duration(seconds) == text


@pytest.mark.parametrize("text", ["1.5s", "1m30s", "2h0m0s", "150ms"])
def test_format_duration_round_trips_through_parse_duration(text: str) -> None:
    assert meta.format_duration(meta.parse_duration(text).total_seconds()) == text
