"""The error kind decides the requeue."""

from __future__ import annotations

import pytest

from shared.runtime import conditions, results


def test_success_requeues_after_the_jittered_interval() -> None:
    decision = results.requeue(None, interval=600)

    assert decision.after is not None
    assert 570 <= decision.after <= 630
    assert decision.forget
    assert not decision.rate_limited


@pytest.mark.parametrize(
    ("error", "after", "rate_limited", "forget", "outcome"),
    [
        (results.StallingError("bad url", reason="URLInvalid"), None, False, True, "stalled"),
        (
            results.WaitingError("dep not ready", reason="DependencyNotReady", requeue_after=30),
            30,
            False,
            True,
            "retry",
        ),
        (results.ReconcileError("boom"), None, True, False, "retry"),
        (RuntimeError("unexpected"), None, True, False, "retry"),
    ],
    ids=["stalling", "waiting", "generic", "unexpected"],
)
def test_errors_decide_the_requeue(
    error: BaseException, after: float | None, rate_limited: bool, forget: bool, outcome: str
) -> None:
    decision = results.requeue(error, interval=600)

    assert (decision.after, decision.rate_limited, decision.forget) == (after, rate_limited, forget)
    assert results.outcome_of(error) == outcome


def test_no_interval_means_no_requeue_on_success() -> None:
    assert results.requeue(None, interval=None).after is None
    assert results.outcome_of(None) == conditions.Outcome.SUCCESS
