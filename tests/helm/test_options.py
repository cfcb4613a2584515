"""A HelmRelease's spec in the engine's terms: names, requests, force and reset rules (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.helm.helmrelease import options
from shared.api import helm
from shared.kube import healthexprs


def release(spec: dict[str, Any] | None = None, **metadata: Any) -> helm.HelmRelease:
    return helm.HelmRelease.model_validate(
        {
            "metadata": {"name": "web", "namespace": "apps", "generation": 2, **metadata},
            "spec": {
                "interval": "5m",
                "chartRef": {"kind": "OCIRepository", "name": "podinfo"},
                **(spec or {}),
            },
        }
    )


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ({}, "web"),
        ({"targetNamespace": "prod"}, "prod-web"),
        ({"releaseName": "custom", "targetNamespace": "prod"}, "custom"),
    ],
)
def test_release_name(spec: dict[str, Any], want: str) -> None:
    assert options.release_name(release(spec)) == want


def test_a_long_release_name_is_shortened_as_flux_does() -> None:
    name = options.release_name(release({"targetNamespace": "n" * 60}))
    assert len(name) == 53
    assert name.startswith("n" * 40 + "-")


def test_requests_carry_flux_defaults_and_the_spec() -> None:
    obj = release(
        {
            "timeout": "1m",
            "maxHistory": 0,
            "install": {"createNamespace": True, "remediation": {"retries": 2}},
            "upgrade": {"timeout": "2m", "force": True, "crds": "CreateReplace"},
            "commonMetadata": {"labels": {"team": "a"}},
            "uninstall": {"keepHistory": True},
        }
    )
    install = options.install_request(obj, None, {"a": 1})  # type: ignore[arg-type]
    upgrade = options.upgrade_request(obj, None, {})  # type: ignore[arg-type]
    uninstall = options.uninstall_request(obj, "web")

    assert (install.timeout, install.crds, install.create_namespace) == (60.0, "Create", True)
    assert install.max_history == 0
    assert install.origin is not None
    assert install.origin.labels == {
        "helm.toolkit.fluxcd.io/name": "web",
        "helm.toolkit.fluxcd.io/namespace": "apps",
    }
    assert dict(install.common_labels) == {"team": "a"}
    assert (upgrade.timeout, upgrade.crds, upgrade.force) == (120.0, "CreateReplace", True)
    assert (uninstall.timeout, uninstall.keep_history) == (60.0, True)
    assert options.upgrade_request(release(), None, {}).max_history == 5  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ({}, (True, "auto", "auto")),
        ({"install": {"serverSideApply": False}}, (False, "auto", "auto")),
        (
            {
                "upgrade": {"serverSideApply": "disabled"},
                "rollback": {"serverSideApply": "enabled"},
            },
            (True, "disabled", "enabled"),
        ),
    ],
)
def test_requests_carry_the_apply_method(spec: dict[str, Any], want: tuple[Any, ...]) -> None:
    obj = release(spec)
    install = options.install_request(obj, None, {})  # type: ignore[arg-type]
    upgrade = options.upgrade_request(obj, None, {})  # type: ignore[arg-type]
    rollback = options.rollback_request(obj, 1)

    methods = (install.server_side_apply, upgrade.server_side_apply, rollback.server_side_apply)
    assert methods == want


WIDGET_CHECK = {"apiVersion": "example.dev/v1", "kind": "Widget", "current": "status.ok == true"}
WIDGET = {"apiVersion": "example.dev/v1", "kind": "Widget", "status": {"ok": False}}


def test_health_check_exprs_become_the_requests_readers() -> None:
    obj = release({"healthCheckExprs": [WIDGET_CHECK]})
    requests = (
        options.install_request(obj, None, {}),  # type: ignore[arg-type]
        options.upgrade_request(obj, None, {}),  # type: ignore[arg-type]
        options.rollback_request(obj, 1),
    )

    for request in requests:
        [reader] = request.health_readers
        result = reader(WIDGET)
        assert result is not None
        assert result.status == "InProgress"
    assert options.install_request(release(), None, {}).health_readers == ()  # type: ignore[arg-type]


def test_the_legacy_wait_strategy_has_no_health_readers() -> None:
    obj = release({"healthCheckExprs": [WIDGET_CHECK], "waitStrategy": {"name": "legacy"}})

    assert options.health_readers(obj) == ()


def test_invalid_health_check_exprs_raise() -> None:
    obj = release({"healthCheckExprs": [{**WIDGET_CHECK, "current": "status.ok =="}]})

    with pytest.raises(healthexprs.InvalidExpressionError):
        options.health_readers(obj)


@pytest.mark.parametrize(
    ("annotations", "handled", "want"),
    [
        ({}, None, None),
        ({"reconcile.fluxcd.io/forceAt": "t1"}, None, None),
        (
            {"reconcile.fluxcd.io/forceAt": "t1", "reconcile.fluxcd.io/requestedAt": "t1"},
            None,
            "t1",
        ),
        (
            {"reconcile.fluxcd.io/forceAt": "t1", "reconcile.fluxcd.io/requestedAt": "t1"},
            "t1",
            None,
        ),
    ],
)
def test_force_requests_need_the_requested_token(
    annotations: dict[str, str], handled: str | None, want: str | None
) -> None:
    obj = release(annotations=annotations)
    assert options.handle_request(obj, "reconcile.fluxcd.io/forceAt", handled) == want


def test_failures_reset_for_a_new_generation_chart_values_or_reset_request() -> None:
    def reset(obj: helm.HelmRelease, version: str = "1.0.0", digest: str = "sha256:v") -> bool:
        return options.must_reset_failures(obj, version, digest)

    status = {
        "lastAttemptedGeneration": 2,
        "lastAttemptedRevision": "1.0.0",
        "lastAttemptedConfigDigest": "sha256:v",
    }
    same = release()
    same.status = helm.HelmReleaseStatus.model_validate(status)
    assert not reset(same)
    assert reset(same, version="1.1.0")
    assert reset(same, digest="sha256:w")
    newer = release(generation=3)
    newer.status = helm.HelmReleaseStatus.model_validate(status)
    assert reset(newer)
    token = {"reconcile.fluxcd.io/resetAt": "r", "reconcile.fluxcd.io/requestedAt": "r"}
    asked = release(annotations=token)
    asked.status = helm.HelmReleaseStatus.model_validate(status)
    assert reset(asked)
    assert asked.status.last_handled_reset_at == "r"
    assert not reset(asked)
