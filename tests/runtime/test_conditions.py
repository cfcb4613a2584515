"""Condition helpers and the summarizer."""

from __future__ import annotations

import pytest

from shared.api import meta, source_conditions
from shared.runtime import conditions

SOURCE_SUMMARY = conditions.Summary(
    owned=(
        source_conditions.STORAGE_OPERATION_FAILED_CONDITION,
        source_conditions.FETCH_FAILED_CONDITION,
        source_conditions.ARTIFACT_OUTDATED_CONDITION,
        source_conditions.ARTIFACT_IN_STORAGE_CONDITION,
        source_conditions.SOURCE_VERIFIED_CONDITION,
    ),
    negative=frozenset(
        {
            source_conditions.STORAGE_OPERATION_FAILED_CONDITION,
            source_conditions.FETCH_FAILED_CONDITION,
            source_conditions.ARTIFACT_OUTDATED_CONDITION,
        }
    ),
    bipolar=frozenset({source_conditions.SOURCE_VERIFIED_CONDITION}),
)


def _types(items: list[meta.Condition]) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in items}


def test_transition_time_changes_only_when_status_flips() -> None:
    first = conditions.set_condition(
        None,
        type_="Ready",
        status="True",
        reason="A",
        message="m",
        generation=1,
        timestamp="2026-01-01T00:00:00Z",
    )
    same = conditions.set_condition(
        first,
        type_="Ready",
        status="True",
        reason="B",
        message="n",
        generation=2,
        timestamp="2026-02-02T00:00:00Z",
    )
    flipped = conditions.set_condition(
        same,
        type_="Ready",
        status="False",
        reason="C",
        message="o",
        generation=3,
        timestamp="2026-03-03T00:00:00Z",
    )

    assert same[0].last_transition_time == "2026-01-01T00:00:00Z"
    assert (same[0].reason, same[0].observed_generation) == ("B", 2)
    assert flipped[0].last_transition_time == "2026-03-03T00:00:00Z"


def test_long_messages_are_trimmed_to_the_api_limit() -> None:
    result = conditions.mark_true(None, "Ready", reason="A", message="x" * 40000, generation=1)

    assert len(result[0].message) == meta.MAX_CONDITION_MESSAGE_LENGTH


def test_now_is_utc_whole_seconds() -> None:
    assert conditions.now().endswith("Z")
    assert len(conditions.now()) == len("2026-01-01T00:00:00Z")


def test_start_marks_reconciling_and_names_the_new_generation() -> None:
    stalled = conditions.mark_true(
        None, meta.STALLED, reason="URLInvalid", message="x", generation=1
    )

    result = conditions.start(stalled, generation=2, observed_generation=1)

    assert meta.STALLED not in _types(result)
    reconciling = conditions.get(result, meta.RECONCILING)
    assert reconciling is not None
    assert reconciling.message == "processing object: new generation 1 -> 2"
    assert _types(result)[meta.READY] == ("Unknown", meta.PROGRESSING_REASON)


def test_start_keeps_a_previous_ready_verdict() -> None:
    ready = conditions.mark_true(None, meta.READY, reason="Succeeded", message="ok", generation=1)

    result = conditions.start(ready, generation=1, observed_generation=1)

    assert _types(result)[meta.READY] == ("True", "Succeeded")


CASES = [
    pytest.param(
        [(source_conditions.ARTIFACT_IN_STORAGE_CONDITION, "True", "Succeeded", "stored artifact")],
        conditions.Outcome.SUCCESS,
        None,
        ("True", "Succeeded", "stored artifact"),
        True,
        id="success mirrors the positive condition",
    ),
    pytest.param(
        [
            (source_conditions.ARTIFACT_IN_STORAGE_CONDITION, "True", "Succeeded", "stored"),
            (
                source_conditions.FETCH_FAILED_CONDITION,
                "True",
                "GitOperationFailed",
                "clone failed",
            ),
        ],
        conditions.Outcome.RETRY,
        ("GitOperationFailed", "clone failed"),
        ("False", "GitOperationFailed", "clone failed"),
        False,
        id="abnormal condition wins over a stored artifact",
    ),
    pytest.param(
        [
            (source_conditions.FETCH_FAILED_CONDITION, "True", "AuthenticationFailed", "bad creds"),
            (
                source_conditions.STORAGE_OPERATION_FAILED_CONDITION,
                "True",
                "InvalidPath",
                "bad path",
            ),
        ],
        conditions.Outcome.RETRY,
        ("AuthenticationFailed", "bad creds"),
        ("False", "InvalidPath", "bad path"),
        False,
        id="priority order decides between failures",
    ),
    pytest.param(
        [
            (source_conditions.ARTIFACT_IN_STORAGE_CONDITION, "True", "Succeeded", "stored"),
            (
                source_conditions.SOURCE_VERIFIED_CONDITION,
                "False",
                "InvalidCommitSignature",
                "unsigned",
            ),
        ],
        conditions.Outcome.SUCCESS,
        None,
        ("False", "InvalidCommitSignature", "unsigned"),
        True,
        id="failed verification forces False",
    ),
    pytest.param(
        [],
        conditions.Outcome.RETRY,
        ("PatchOperationFailed", "conflict"),
        ("False", "PatchOperationFailed", "conflict"),
        False,
        id="error without owning condition",
    ),
    pytest.param(
        [],
        conditions.Outcome.STALLED,
        ("URLInvalid", "no scheme"),
        ("False", "URLInvalid", "no scheme"),
        True,
        id="stall observes the generation",
    ),
]


@pytest.mark.parametrize(("before", "outcome", "error", "ready", "observe"), CASES)
def test_summarize(
    before: list[tuple[str, str, str, str]],
    outcome: str,
    error: tuple[str, str] | None,
    ready: tuple[str, str, str],
    observe: bool,
) -> None:
    items: list[meta.Condition] = conditions.start(None, generation=2, observed_generation=1)
    for type_, status, reason, message in before:
        items = conditions.set_condition(
            items, type_=type_, status=status, reason=reason, message=message, generation=2
        )

    result = conditions.summarize(
        items,
        summary=SOURCE_SUMMARY,
        outcome=outcome,
        generation=2,
        error_reason=error[0] if error else None,
        error_message=error[1] if error else None,
    )

    got = conditions.get(result.conditions, meta.READY)
    assert got is not None
    assert (got.status, got.reason, got.message) == ready
    assert result.conditions[0].type == meta.READY
    assert result.observe_generation is observe


def test_summarize_reconciling_and_stalled_by_outcome() -> None:
    started = conditions.start(None, generation=1, observed_generation=None)
    summary = SOURCE_SUMMARY

    success = conditions.summarize(started, summary=summary, outcome="success", generation=1)
    retry = conditions.summarize(started, summary=summary, outcome="retry", generation=1)
    stalled = conditions.summarize(
        started, summary=summary, outcome="stalled", generation=1, error_reason="URLInvalid"
    )

    assert set(_types(success.conditions)) == {meta.READY}
    assert _types(retry.conditions)[meta.RECONCILING] == ("True", "ProgressingWithRetry")
    assert meta.STALLED not in _types(retry.conditions)
    assert _types(stalled.conditions)[meta.STALLED] == ("True", "URLInvalid")
    assert meta.RECONCILING not in _types(stalled.conditions)


def test_the_first_failing_condition_in_priority_order_wins() -> None:
    summary = conditions.Summary(
        owned=("Verified", "Outdated"),
        negative=frozenset({"Outdated"}),
        bipolar=frozenset({"Verified"}),
    )
    items = conditions.mark_true(
        None, "Outdated", reason="NewRevision", message="new", generation=1
    )
    items = conditions.mark_false(items, "Verified", reason="Unsigned", message="bad", generation=1)
    verdict = conditions.summarize(
        items, summary=summary, outcome=conditions.Outcome.RETRY, generation=1
    )
    ready = conditions.get(verdict.conditions, meta.READY)
    assert ready is not None
    assert (ready.status, ready.reason, ready.message) == ("False", "Unsigned", "bad")
