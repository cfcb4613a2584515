"""The intake's pure parts: the duplicate window and the Alert index."""

from __future__ import annotations

from controllers.notification import intake
from tests.notification import events


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_is_a_duplicate_within_the_interval_and_free_after_it() -> None:
    clock = _Clock()
    duplicates = intake.DuplicateFilter(300.0, clock=clock)

    assert duplicates.admit("a")
    assert duplicates.admit("b")
    clock.now += 299.0
    assert not duplicates.admit("a")  # a refused duplicate does not extend the window
    clock.now += 1.0
    assert duplicates.admit("a")
    assert duplicates.admit("b")
    assert not duplicates.admit("a")


def test_the_alert_index_names_each_source_with_the_alerts_namespace_by_default() -> None:
    alert = events.alert(
        {
            "eventSources": [
                {"kind": "Kustomization", "name": "*"},
                {"kind": "GitRepository", "name": "app", "namespace": "apps"},
            ]
        },
        namespace="team",
    )
    assert intake.source_keys(alert) == ["Kustomization/team/*", "GitRepository/apps/app"]
