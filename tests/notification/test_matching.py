"""Alert matching, duplicate keys and metadata, as Flux's event server decides them."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.notification import matching
from shared.api import notification
from tests.notification import events

K = events.KUSTOMIZE


def _alert(spec: dict[str, Any]) -> notification.Alert:
    return notification.Alert.model_validate(events.alert(spec))


def _rule(spec: dict[str, Any], namespace: str = "flux-system") -> matching.Rule:
    return matching.rule(_alert(spec), namespace)


@pytest.mark.parametrize(
    ("spec", "event", "labels", "want"),
    [
        ({}, {}, None, True),
        ({"eventSources": [{"kind": "Kustomization", "name": "apps"}]}, {}, None, True),
        ({"eventSources": [{"kind": "Kustomization", "name": "other"}]}, {}, None, False),
        ({"eventSources": [{"kind": "GitRepository", "name": "*"}]}, {}, None, False),
        # The source's namespace is the Alert's when empty.
        ({}, {"namespace": "apps"}, None, False),
        (
            {"eventSources": [{"kind": "Kustomization", "name": "*", "namespace": "apps"}]},
            {"namespace": "apps"},
            None,
            True,
        ),
        ({"eventSeverity": "error"}, {}, None, False),
        ({"eventSeverity": "error"}, {"severity": "error"}, None, True),
        ({"eventSeverity": "info"}, {"severity": "error"}, None, True),
        ({"suspend": True}, {}, None, False),
        ({"inclusionList": ["^Applied"]}, {}, None, True),
        ({"inclusionList": ["^Deleted", "sha1:a+$"]}, {}, None, True),
        ({"inclusionList": ["^Deleted"]}, {}, None, False),
        ({"exclusionList": ["Applied"]}, {}, None, False),
        ({"inclusionList": ["Applied"], "exclusionList": ["main@"]}, {}, None, False),
        ({"exclusionList": ["^Deleted"]}, {}, None, True),
        # Go RE2 syntax: named groups (?P<n>) work, backreferences do not compile.
        ({"inclusionList": ["(?P<verb>Applied) revision"]}, {}, None, True),
        (
            {"eventSources": [{"kind": "Kustomization", "name": "*", "matchLabels": {"t": "a"}}]},
            {},
            {"t": "a", "other": "x"},
            True,
        ),
        (
            {"eventSources": [{"kind": "Kustomization", "name": "*", "matchLabels": {"t": "a"}}]},
            {},
            {"t": "b"},
            False,
        ),
        (
            {"eventSources": [{"kind": "Kustomization", "name": "*", "matchLabels": {"t": "a"}}]},
            {},
            None,
            False,
        ),
    ],
)
def test_matches(
    spec: dict[str, Any], event: dict[str, Any], labels: dict[str, str] | None, want: bool
) -> None:
    verdict = matching.matches(_rule(spec), events.parsed(**event), labels=labels)
    assert verdict.matched is want
    assert verdict.invalid == ()


def test_an_expression_that_does_not_compile_never_matches_and_is_reported() -> None:
    verdict = matching.matches(
        _rule({"inclusionList": ["(Applied)\\1", "["]}),
        events.parsed(),
        labels=None,
    )
    assert verdict == matching.Verdict(False, ("(Applied)\\1", "["))


def test_labels_are_needed_only_for_a_source_with_match_labels_naming_the_object() -> None:
    labelled = {"eventSources": [{"kind": "Kustomization", "name": "*", "matchLabels": {"a": "b"}}]}
    assert matching.needs_labels(_rule(labelled), events.parsed())
    assert not matching.needs_labels(_rule(labelled, "other"), events.parsed())
    assert not matching.needs_labels(_rule({}), events.parsed())


def test_clean_metadata_keeps_the_object_group_and_event_keys_without_checksum_or_digest() -> None:
    event = events.parsed(
        metadata={
            f"{K}/revision": "main@sha1:" + "a" * 40,
            f"{K}/digest": "sha256:x",
            f"{K}/checksum": "x",
            "event.toolkit.fluxcd.io/commit": "abc",
            "source.toolkit.fluxcd.io/revision": "other group",
            "free": "form",
        }
    )
    assert matching.clean_metadata(event) == {
        f"{K}/revision": "main@sha1:" + "a" * 40,
        "event.toolkit.fluxcd.io/commit": "abc",
    }


@pytest.mark.parametrize(
    ("change", "same"),
    [
        ({"severity": "error"}, True),
        ({"reason": "Other"}, True),
        ({"message": "another message"}, False),
        ({"name": "other"}, False),
        ({"namespace": "other"}, False),
        ({"kind": "GitRepository"}, False),
        ({"metadata": {f"{K}/revision": "main@sha1:" + "b" * 40}}, False),
        ({"metadata": {f"{K}/token": "t2"}}, False),
        ({"metadata": {f"{K}/originRevision": "o2"}}, False),
        ({"metadata": {f"{K}/commit_status": "update"}}, True),
    ],
)
def test_duplicate_key(change: dict[str, Any], same: bool) -> None:
    def key(**kwargs: Any) -> str:
        event = events.parsed(**kwargs)
        return matching.duplicate_key(event, matching.clean_metadata(event))

    assert (key() == key(**change)) is same


def test_combined_metadata_lets_the_emitter_win_and_reports_conflicts() -> None:
    alert = _alert({"eventMetadata": {"env": "prod", "revision": "mine"}, "summary": "s"})
    event = events.parsed(
        metadata={
            f"{K}/revision": "main@sha1:" + "a" * 40,
            f"{K}/token": "secret-token",
            "event.toolkit.fluxcd.io/team": "a",
            "event.toolkit.fluxcd.io/env": "dev",
        }
    )
    combined = matching.combine_metadata(alert, event, matching.clean_metadata(event))
    assert combined.metadata == {
        "revision": "main@sha1:" + "a" * 40,
        "team": "a",
        "env": "prod",
        "summary": "s",
    }
    assert combined.conflicts == {
        "env": "involved object annotations, Alert object .spec.eventMetadata",
        "revision": "Alert object .spec.eventMetadata, involved object controller metadata",
    }
