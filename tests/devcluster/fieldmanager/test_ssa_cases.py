"""The SSA conformance table (``ssa_cases.py`` beside this module) run on the pure functions."""

from __future__ import annotations

import pytest

from devcluster.structuredmerge import typeinfo
from tests.devcluster.fieldmanager import ssa_cases, ssa_runner


@pytest.fixture(scope="module")
def catalog() -> typeinfo.Catalog:
    return typeinfo.load_builtin()


def test_table_has_at_least_25_cases() -> None:
    assert len([c for c in ssa_cases.CASES if not c.server_only]) >= 25
    assert len({c.id for c in ssa_cases.CASES}) == len(ssa_cases.CASES)


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            c,
            id=f"{c.id}-{c.title[:40]}",
            marks=[pytest.mark.skip(reason="checked by the server runner")]
            if c.server_only
            else [],
        )
        for c in ssa_cases.CASES
    ],
)
def test_case(case: ssa_cases.Case, catalog: typeinfo.Catalog) -> None:
    store = ssa_runner.PureStore(resource=case.resource, catalog=catalog)
    for number, step in enumerate(case.steps, start=1):
        outcome = store.run(step)
        problems = ssa_runner.check(step.expect, outcome, known=case.known_managers())
        assert not problems, f"step {number} ({step.action} by {step.manager}): {problems}"
