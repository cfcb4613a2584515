"""Behaviour specific to the source.toolkit.fluxcd.io kinds: CEL rules, CRD defaults."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from shared.api import crdgen, objects, source

API_VERSION = "source.toolkit.fluxcd.io/v1"


def _manifest(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": "x"}, "spec": spec}


_BUCKET = {"interval": "5m", "bucketName": "b", "endpoint": "minio.example.com"}
_AWS_STS = {"provider": "aws", "endpoint": "https://sts.amazonaws.com"}
_LDAP_STS = {"provider": "ldap", "endpoint": "https://minio.example.com"}
_REF = {"name": "r"}

# (case, spec fields added to _BUCKET, expected error message or None when accepted)
BUCKET_CEL_CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("generic with ldap sts", {"provider": "generic", "sts": _LDAP_STS}, None),
    ("defaulted generic with ldap sts", {"sts": _LDAP_STS}, None),
    ("aws with aws sts", {"provider": "aws", "sts": _AWS_STS}, None),
    (
        "azure with sts",
        {"provider": "azure", "sts": _AWS_STS},
        "STS configuration is only supported for the 'aws' and 'generic' Bucket providers",
    ),
    (
        "aws with ldap sts",
        {"provider": "aws", "sts": _LDAP_STS},
        "'aws' is the only supported STS provider for the 'aws' Bucket provider",
    ),
    (
        "defaulted generic with aws sts",
        {"sts": _AWS_STS},
        "'ldap' is the only supported STS provider for the 'generic' Bucket provider",
    ),
    (
        "aws sts with secretRef",
        {"provider": "aws", "sts": {**_AWS_STS, "secretRef": _REF}},
        "spec.sts.secretRef is not required for the 'aws' STS provider",
    ),
    (
        "aws sts with certSecretRef",
        {"provider": "aws", "sts": {**_AWS_STS, "certSecretRef": _REF}},
        "spec.sts.certSecretRef is not required for the 'aws' STS provider",
    ),
    (
        "ldap sts with both secrets",
        {"sts": {**_LDAP_STS, "secretRef": _REF, "certSecretRef": _REF}},
        None,
    ),
    (
        "generic with serviceAccountName",
        {"provider": "generic", "serviceAccountName": "sa"},
        "ServiceAccountName is not supported for the 'generic' Bucket provider",
    ),
    ("gcp with serviceAccountName", {"provider": "gcp", "serviceAccountName": "sa"}, None),
    (
        "secretRef and serviceAccountName",
        {"provider": "azure", "secretRef": _REF, "serviceAccountName": "sa"},
        "cannot set both .spec.secretRef and .spec.serviceAccountName",
    ),
]


@pytest.mark.parametrize(
    ("extra", "message"),
    [(extra, message) for _, extra, message in BUCKET_CEL_CASES],
    ids=[case for case, _, _ in BUCKET_CEL_CASES],
)
def test_bucket_cel_rules(extra: dict[str, Any], message: str | None) -> None:
    manifest = _manifest("Bucket", {**_BUCKET, **extra})

    if message is None:
        source.Bucket.model_validate(manifest)
    else:
        with pytest.raises(pydantic.ValidationError) as caught:
            source.Bucket.model_validate(manifest)
        # Exactly one rule is broken in each case: no other message appears.
        (error,) = caught.value.errors()
        assert error["msg"] == f"Value error, {message}"


_HELM_VERIFY_MESSAGE = "spec.verify is only supported when spec.sourceRef.kind is 'HelmRepository'"

HELMCHART_CEL_CASES: list[tuple[str, bool, str | None]] = [
    ("HelmRepository", True, None),
    ("HelmRepository", False, None),
    ("GitRepository", False, None),
    ("GitRepository", True, _HELM_VERIFY_MESSAGE),
    ("Bucket", True, _HELM_VERIFY_MESSAGE),
]


@pytest.mark.parametrize(("source_kind", "with_verify", "message"), HELMCHART_CEL_CASES)
def test_helmchart_verify_needs_a_helm_repository(
    source_kind: str, with_verify: bool, message: str | None
) -> None:
    spec: dict[str, Any] = {
        "interval": "5m",
        "chart": "podinfo",
        "sourceRef": {"kind": source_kind, "name": "podinfo"},
    }
    if with_verify:
        spec["verify"] = {"provider": "cosign"}
    manifest = _manifest("HelmChart", spec)

    if message is None:
        source.HelmChart.model_validate(manifest)
    else:
        with pytest.raises(pydantic.ValidationError, match=message):
            source.HelmChart.model_validate(manifest)


# (kind, minimal spec, the spec read back: minimal spec plus the CRD defaults only)
DEFAULT_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "OCIRepository",
        {"interval": "5m", "url": "oci://ghcr.io/org/app"},
        {"interval": "5m", "url": "oci://ghcr.io/org/app", "provider": "generic", "timeout": "60s"},
    ),
    (
        "OCIRepository",
        {"interval": "5m", "url": "oci://ghcr.io/org/app", "verify": {}, "layerSelector": {}},
        {
            "interval": "5m",
            "url": "oci://ghcr.io/org/app",
            "provider": "generic",
            "timeout": "60s",
            "verify": {"provider": "cosign"},
            "layerSelector": {},
        },
    ),
    (
        "HelmRepository",
        {"url": "https://charts.example.com"},
        {"url": "https://charts.example.com", "provider": "generic"},
    ),
    (
        "HelmChart",
        {"interval": "5m", "chart": "app", "sourceRef": {"kind": "HelmRepository", "name": "r"}},
        {
            "interval": "5m",
            "chart": "app",
            "sourceRef": {"kind": "HelmRepository", "name": "r"},
            "version": "*",
            "reconcileStrategy": "ChartVersion",
        },
    ),
    (
        "Bucket",
        {"interval": "5m", "bucketName": "b", "endpoint": "e"},
        {
            "interval": "5m",
            "bucketName": "b",
            "endpoint": "e",
            "provider": "generic",
            "timeout": "60s",
        },
    ),
    ("ExternalArtifact", {}, {}),
]


@pytest.mark.parametrize(
    ("kind", "spec", "expected"),
    DEFAULT_CASES,
    ids=[f"{kind}-{index}" for index, (kind, _, _) in enumerate(DEFAULT_CASES)],
)
def test_minimal_spec_gains_crd_defaults_only(
    kind: str, spec: dict[str, Any], expected: dict[str, Any]
) -> None:
    model = getattr(source, kind).model_validate(_manifest(kind, spec))

    assert objects.dump(model)["spec"] == expected


@pytest.mark.parametrize("kind", [source.OCIRepository, source.HelmChart], ids=lambda k: k.__name__)
def test_verify_provider_is_required_and_defaulted_in_the_crd(
    kind: type[objects.ApiObject],
) -> None:
    verify = crdgen.openapi_schema(kind)["properties"]["spec"]["properties"]["verify"]

    assert verify["required"] == ["provider"]
    assert verify["properties"]["provider"]["default"] == "cosign"


def test_only_oci_repository_verify_has_a_trusted_root() -> None:
    def verify_fields(kind: type[objects.ApiObject]) -> set[str]:
        spec = crdgen.openapi_schema(kind)["properties"]["spec"]
        return set(spec["properties"]["verify"]["properties"])

    assert verify_fields(source.OCIRepository) - verify_fields(source.HelmChart) == {
        "trustedRootSecretRef"
    }
