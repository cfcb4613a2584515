"""Kustomization and HelmRelease behaviour: inventory ids, CEL rules, defaults, wire names."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from shared.api import helm, kustomize, objects

# --- inventory ids -----------------------------------------------------------------------

RBAC = "rbac.authorization.k8s.io"

ID_CASES = [
    ("core namespaced", "default", "podinfo", "", "Service", "default_podinfo__Service"),
    ("grouped", "default", "podinfo", "apps", "Deployment", "default_podinfo_apps_Deployment"),
    ("cluster-scoped core", "", "my-ns", "", "Namespace", "_my-ns__Namespace"),
    (
        "dotted group",
        "apps",
        "podinfo",
        "autoscaling",
        "HorizontalPodAutoscaler",
        "apps_podinfo_autoscaling_HorizontalPodAutoscaler",
    ),
    (
        "rbac colons",
        "",
        "system:controller:foo",
        RBAC,
        "ClusterRole",
        "_system__controller__foo_rbac.authorization.k8s.io_ClusterRole",
    ),
    (
        "rbac namespaced binding",
        "kube-system",
        "system:leader-locking",
        RBAC,
        "RoleBinding",
        "kube-system_system__leader-locking_rbac.authorization.k8s.io_RoleBinding",
    ),
    (
        "rbac name starting and ending with a colon",
        "",
        ":edge:",
        RBAC,
        "ClusterRoleBinding",
        "___edge___rbac.authorization.k8s.io_ClusterRoleBinding",
    ),
    (
        "custom resource with dotted group",
        "flux-system",
        "apps",
        "kustomize.toolkit.fluxcd.io",
        "Kustomization",
        "flux-system_apps_kustomize.toolkit.fluxcd.io_Kustomization",
    ),
]


@pytest.mark.parametrize(
    ("namespace", "name", "group", "kind", "expected"),
    [case[1:] for case in ID_CASES],
    ids=[case[0] for case in ID_CASES],
)
def test_format_inventory_id(
    namespace: str, name: str, group: str, kind: str, expected: str
) -> None:
    assert (
        kustomize.format_inventory_id(namespace=namespace, name=name, group=group, kind=kind)
        == expected
    )


@pytest.mark.parametrize(
    ("namespace", "name", "group", "kind", "value"),
    [case[1:] for case in ID_CASES],
    ids=[case[0] for case in ID_CASES],
)
def test_parse_inventory_id(namespace: str, name: str, group: str, kind: str, value: str) -> None:
    assert kustomize.parse_inventory_id(value) == kustomize.InventoryId(
        namespace=namespace, name=name, group=group, kind=kind
    )


BAD_ID_CASES = [
    ("no separator", "podinfo", "has no '_'"),
    ("namespace only", "default_", "lacks the kind field"),
    ("name without kind", "default_podinfo", "lacks the kind field"),
    ("no group field", "default_podinfo_Service", "lacks the group field"),
    ("too many fields", "default_pod_info_apps_Deployment", "too many fields"),
    ("double underscore outside rbac", "default_pod__info_apps_Deployment", "too many fields"),
]


@pytest.mark.parametrize(
    ("value", "message"),
    [case[1:] for case in BAD_ID_CASES],
    ids=[case[0] for case in BAD_ID_CASES],
)
def test_parse_inventory_id_refuses_malformed_ids(value: str, message: str) -> None:
    with pytest.raises(kustomize.InvalidInventoryIdError, match=message):
        kustomize.parse_inventory_id(value)


# --- CEL rules ---------------------------------------------------------------------------

CHART = {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}}
CHART_REF = {"kind": "OCIRepository", "name": "podinfo"}
EITHER = "either chart or chartRef must be set"
INSTALL_RULE = ".retryInterval cannot be set when .name is 'RemediateOnFailure'"
UPGRADE_RULE = ".retryInterval can only be set when .name is 'RetryOnFailure'"

CEL_CASES: list[tuple[str, type[objects.ApiModel], dict[str, Any], str | None]] = [
    ("chart only", helm.HelmReleaseSpec, {"interval": "5m", "chart": CHART}, None),
    ("chartRef only", helm.HelmReleaseSpec, {"interval": "5m", "chartRef": CHART_REF}, None),
    (
        "chart and chartRef",
        helm.HelmReleaseSpec,
        {"interval": "5m", "chart": CHART, "chartRef": CHART_REF},
        EITHER,
    ),
    ("neither chart nor chartRef", helm.HelmReleaseSpec, {"interval": "5m"}, EITHER),
    ("install remediate", helm.InstallStrategy, {"name": "RemediateOnFailure"}, None),
    (
        "install retry with interval",
        helm.InstallStrategy,
        {"name": "RetryOnFailure", "retryInterval": "1m"},
        None,
    ),
    ("install retry without interval", helm.InstallStrategy, {"name": "RetryOnFailure"}, None),
    (
        "install remediate with interval",
        helm.InstallStrategy,
        {"name": "RemediateOnFailure", "retryInterval": "1m"},
        INSTALL_RULE,
    ),
    ("upgrade remediate", helm.UpgradeStrategy, {"name": "RemediateOnFailure"}, None),
    (
        "upgrade retry with interval",
        helm.UpgradeStrategy,
        {"name": "RetryOnFailure", "retryInterval": "1m"},
        None,
    ),
    (
        "upgrade remediate with interval",
        helm.UpgradeStrategy,
        {"name": "RemediateOnFailure", "retryInterval": "1m"},
        UPGRADE_RULE,
    ),
]


@pytest.mark.parametrize(
    ("model", "data", "error"),
    [case[1:] for case in CEL_CASES],
    ids=[case[0] for case in CEL_CASES],
)
def test_cel_rules(model: type[objects.ApiModel], data: dict[str, Any], error: str | None) -> None:
    if error is None:
        model.model_validate(data)
        return
    with pytest.raises(pydantic.ValidationError, match=error):
        model.model_validate(data)


# --- defaults ----------------------------------------------------------------------------

SOURCE_REF = {"kind": "GitRepository", "name": "podinfo"}

DEFAULT_CASES: list[tuple[str, type[objects.ApiModel], dict[str, Any], dict[str, Any]]] = [
    (
        "kustomization gains force false only",
        kustomize.KustomizationSpec,
        {"interval": "5m", "prune": True, "sourceRef": SOURCE_REF},
        {"interval": "5m", "prune": True, "sourceRef": SOURCE_REF, "force": False},
    ),
    (
        "substituteFrom optional defaults to false",
        kustomize.PostBuild,
        {"substituteFrom": [{"kind": "ConfigMap", "name": "vars"}]},
        {"substituteFrom": [{"kind": "ConfigMap", "name": "vars", "optional": False}]},
    ),
    (
        "chart template gains version and reconcile strategy",
        helm.HelmChartTemplateSpec,
        {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}},
        {
            "chart": "podinfo",
            "sourceRef": {"kind": "HelmRepository", "name": "podinfo"},
            "version": "*",
            "reconcileStrategy": "ChartVersion",
        },
    ),
    (
        "verify provider defaults to cosign",
        helm.HelmChartTemplateVerification,
        {"secretRef": {"name": "keys"}},
        {"secretRef": {"name": "keys"}, "provider": "cosign"},
    ),
    (
        "uninstall deletion propagation defaults to background",
        helm.Uninstall,
        {"keepHistory": True},
        {"keepHistory": True, "deletionPropagation": "background"},
    ),
    (
        "controller-side fallbacks stay unset",
        helm.Upgrade,
        {"remediation": {"retries": 3}},
        {"remediation": {"retries": 3}},
    ),
]


@pytest.mark.parametrize(
    ("model", "data", "dumped"),
    [case[1:] for case in DEFAULT_CASES],
    ids=[case[0] for case in DEFAULT_CASES],
)
def test_crd_defaults(
    model: type[objects.ApiModel], data: dict[str, Any], dumped: dict[str, Any]
) -> None:
    assert objects.dump(model.model_validate(data)) == dumped


# --- wire form ---------------------------------------------------------------------------


def test_prune_false_is_serialised() -> None:
    spec = kustomize.KustomizationSpec.model_validate(
        {"interval": "5m", "prune": False, "sourceRef": SOURCE_REF}
    )

    assert objects.dump(spec)["prune"] is False


WIRE_NAME_CASES = [
    ("openapi validation", helm.Install, "disableOpenAPIValidation", "disableOpenApiValidation"),
    ("skip crds", helm.Install, "skipCRDs", "skipCrds"),
    ("inventory version", kustomize.ResourceRef, "v", "version"),
]


@pytest.mark.parametrize(
    ("model", "wire", "wrong"),
    [case[1:] for case in WIRE_NAME_CASES],
    ids=[case[0] for case in WIRE_NAME_CASES],
)
def test_flux_wire_names_round_trip_and_near_misses_are_refused(
    model: type[objects.ApiModel], wire: str, wrong: str
) -> None:
    value: Any = "v1" if wire == "v" else True
    base: dict[str, Any] = {"id": "default_podinfo__Service"} if wire == "v" else {}

    assert objects.dump(model.model_validate({**base, wire: value})) == {**base, wire: value}
    with pytest.raises(pydantic.ValidationError, match=wrong):
        model.model_validate({**base, wrong: value})


def test_snapshot_accepts_null_zero_times() -> None:
    """Go writes zero metav1.Time values (deleted, test hook times) as JSON null."""
    snapshot = helm.Snapshot.model_validate(
        {
            "digest": "sha256:e59aeb8b854f42e44756c2ef552a073051f1fc4f90e68aacbae7f824139580bc",
            "name": "podinfo",
            "namespace": "default",
            "version": 1,
            "status": "deployed",
            "chartName": "podinfo",
            "chartVersion": "6.5.3",
            "configDigest": "sha256:e15c415d62760896bd8bec192a44c5716dc224db9e0fc609b9ac1471",
            "firstDeployed": "2026-11-20T09:00:35Z",
            "lastDeployed": "2026-11-20T09:00:35Z",
            "deleted": None,
            "testHooks": {
                "podinfo-grpc-test": {"lastStarted": None, "lastCompleted": None, "phase": ""},
                "podinfo-jwt-test": None,
            },
        }
    )

    assert snapshot.deleted is None
    assert snapshot.test_hooks is not None
    assert snapshot.test_hooks["podinfo-jwt-test"] is None
    # A nil map value stays null on the wire, as Go marshals it.
    assert objects.dump(snapshot)["testHooks"] == {
        "podinfo-grpc-test": {"phase": ""},
        "podinfo-jwt-test": None,
    }
