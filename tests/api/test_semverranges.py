"""Masterminds-syntax semver ranges (shared.api.semverranges), table-driven (Masterminds docs)."""

from __future__ import annotations

import pytest

from shared.api import semverranges as constraints

CASES = [
    # (constraint, version, allowed)
    (">=1 <2", "1.0.0", True),
    (">=1 <2", "1.9.9", True),
    (">=1 <2", "2.0.0", False),
    (">=1 <2", "0.9.0", False),
    (">=1, <2", "1.5.0", True),
    (">= 1.2, < 3.0.0", "2.9.9", True),
    ("^1.2", "1.2.0", True),
    ("^1.2", "1.9.0", True),
    ("^1.2", "2.0.0", False),
    ("^1.2", "1.1.9", False),
    ("^1.2.3", "1.2.2", False),
    ("^0.2.3", "0.2.9", True),
    ("^0.2.3", "0.3.0", False),
    ("^0.0.3", "0.0.3", True),
    ("^0.0.3", "0.0.4", False),
    ("^0", "0.9.0", True),
    ("^0", "1.0.0", False),
    ("~1.2", "1.2.9", True),
    ("~1.2", "1.3.0", False),
    ("~1.2.3", "1.2.2", False),
    ("~1", "1.9.0", True),
    ("~1", "2.0.0", False),
    ("~>1.2", "1.2.5", True),
    ("1.2.x", "1.2.7", True),
    ("1.2.x", "1.3.0", False),
    ("1.x", "1.7.0", True),
    ("1.2", "1.2.4", True),
    ("*", "0.0.1", True),
    ("*", "9.9.9", True),
    ("x", "3.0.0", True),
    ("1.2.3", "1.2.3", True),
    ("=1.2.3", "1.2.4", False),
    ("!=1.2.3", "1.2.4", True),
    ("!=1.2.3", "1.2.3", False),
    (">1.2", "1.2.9", False),
    (">1.2", "1.3.0", True),
    (">1.2.3", "1.2.4", True),
    ("<=1.2", "1.2.9", True),
    ("<=1.2", "1.3.0", False),
    ("<1.2", "1.1.9", True),
    ("<1.2", "1.2.0", False),
    ("1.2 - 1.4.5", "1.4.5", True),
    ("1.2 - 1.4.5", "1.4.6", False),
    ("1.2 - 1.4.5", "1.1.0", False),
    ("<1 || >=3", "0.5.0", True),
    ("<1 || >=3", "2.0.0", False),
    ("<1 || >=3", "3.1.0", True),
    ("^1.2 || ~2.1", "2.1.3", True),
    ("^1.2 || ~2.1", "2.2.0", False),
    # pre-releases only when the comparison itself names one
    (">=1", "2.0.0-rc.1", False),
    ("*", "1.0.0-alpha", False),
    (">=1.0.0-0", "1.0.0-alpha", True),
    (">=2.0.0-rc.1", "2.0.0-rc.2", True),
    (">=2.0.0-rc.1", "2.0.0", True),
    # build metadata is ignored for precedence
    ("=1.2.3", "1.2.3+build.5", True),
]


@pytest.mark.parametrize(("text", "version", "allowed"), CASES)
def test_constraint_allows(text: str, version: str, allowed: bool) -> None:
    parsed = constraints.parse_version(version)
    assert parsed is not None
    assert constraints.parse(text).allows(parsed) is allowed


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("v1.2.3", "1.2.3"),
        ("1.2.3", "1.2.3"),
        ("v1.2", "1.2.0"),
        ("v1", "1.0.0"),
        ("1.0.0-rc.1+meta", "1.0.0-rc.1+meta"),
    ],
)
def test_parse_version_is_tolerant_like_masterminds(tag: str, expected: str) -> None:
    assert str(constraints.parse_version(tag)) == expected


@pytest.mark.parametrize("tag", ["latest", "release-1.2.3", "v1.2.3.4", "1.2.3-", ""])
def test_parse_version_refuses_non_versions(tag: str) -> None:
    assert constraints.parse_version(tag) is None


@pytest.mark.parametrize("text", ["", "  ", ">=", "abc", ">=1 <", "1.2.3 ||", ">=1 foo"])
def test_invalid_constraints_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="constraint"):
        constraints.parse(text)


def test_precedence_key_orders_as_semver_precedence() -> None:
    tags = [
        "1.0.0", "v1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
        "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "2.0.0", "1.10.0", "1.9.0",
        "0.0.1+build.5", "1.0.0-1", "1.0.0-a1", "10", "2.1",
    ]  # fmt: skip
    by_key = sorted(tags, key=constraints.precedence_key)  # type: ignore[arg-type]
    by_version = sorted(tags, key=constraints.parse_version)  # type: ignore[arg-type]
    assert by_key == by_version
    assert constraints.precedence_key("1.0.0.1") is None
