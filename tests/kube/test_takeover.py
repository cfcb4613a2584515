"""Folding overridden field managers into ours (``--override-manager``)."""

from __future__ import annotations

from typing import Any

from shared.kube import takeover

OURS = "kustomize-controller"
MANAGERS = takeover.overridden(OURS, ["node-fetch"])


def _entry(manager: str, operation: str, fields: dict[str, Any], **extra: str) -> dict[str, Any]:
    return {"manager": manager, "operation": operation, "fieldsV1": fields, **extra}


def test_fluxs_defaults_and_extra_names() -> None:
    assert [(m.name, m.operation) for m in MANAGERS] == [
        ("kubectl", "Apply"),
        ("kubectl", "Update"),
        ("before-first-apply", "Update"),
        (OURS, "Update"),
        ("node-fetch", "Apply"),
        ("node-fetch", "Update"),
    ]


def test_names_match_by_prefix_operation_and_never_a_subresource() -> None:
    assert takeover.needed((("kubectl-edit", "Update", ""),), MANAGERS)
    assert takeover.needed((("kubectl-client-side-apply", "Update", ""),), MANAGERS)
    assert not takeover.needed((("kubectl-edit", "Update", "status"),), MANAGERS)
    assert not takeover.needed((("before-first-apply", "Apply", ""),), MANAGERS)
    assert not takeover.needed(((OURS, "Apply", ""), ("helm", "Update", "")), MANAGERS)


def test_overridden_entries_are_merged_into_our_apply_entry() -> None:
    entries = [
        _entry("helm", "Update", {"f:data": {"f:helm": {}}}),
        _entry(OURS, "Apply", {"f:data": {"f:color": {}}, "f:metadata": {"f:labels": {}}}),
        _entry("kubectl-patch", "Update", {"f:data": {"f:extra": {}}}),
        _entry("kubectl-edit", "Update", {"f:data": {"f:color": {}, "f:edited": {}}}),
    ]

    replaced = takeover.take_over(entries, MANAGERS, OURS)

    assert replaced == [
        _entry(
            OURS,
            "Apply",
            {
                "f:data": {"f:color": {}, "f:extra": {}, "f:edited": {}},
                "f:metadata": {"f:labels": {}},
            },
        ),
        _entry("helm", "Update", {"f:data": {"f:helm": {}}}),
    ]


def test_without_an_entry_of_ours_the_first_match_is_renamed() -> None:
    entries = [
        _entry("kubectl-client-side-apply", "Update", {"f:data": {"f:a": {}}}, time="t"),
        _entry("before-first-apply", "Update", {"f:data": {"f:b": {}}}),
    ]

    assert takeover.take_over(entries, MANAGERS, OURS) == [
        _entry(OURS, "Apply", {"f:data": {"f:a": {}, "f:b": {}}}, time="t")
    ]


def test_nothing_to_take_over_is_no_patch() -> None:
    entries = [_entry(OURS, "Apply", {"f:data": {}}), _entry("helm", "Update", {})]

    assert takeover.take_over(entries, MANAGERS, OURS) is None
