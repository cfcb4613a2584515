"""The generated CRDs: structural, in sync with crds/, with Flux's names and columns."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
from ruamel.yaml import YAML

from shared.api import crdgen, objects, registry, structural

CRDS = pathlib.Path(__file__).parents[2] / "crds"
KINDS = registry.all_kinds()


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.crd.kind)
def test_generated_crd_is_structural(kind: type[objects.ApiObject]) -> None:
    crd = crdgen.crd_for(kind)

    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert structural.check_schema(schema) == []


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.crd.kind)
def test_crds_directory_matches_the_models(kind: type[objects.ApiObject]) -> None:
    path = CRDS / crdgen.file_name(kind)

    assert path.exists(), f"{path.name} missing: run 'make manifests'"
    assert path.read_text() == crdgen.render(crdgen.crd_for(kind)), "run 'make manifests'"


def test_crds_directory_holds_only_generated_files() -> None:
    expected = {crdgen.file_name(kind) for kind in KINDS}

    assert {p.name for p in CRDS.glob("*.yaml")} == expected


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.crd.kind)
def test_crd_file_parses_as_one_crd_document(kind: type[objects.ApiObject]) -> None:
    documents = list(YAML(typ="safe").load_all((CRDS / crdgen.file_name(kind)).read_text()))

    assert len(documents) == 1
    crd = documents[0]
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == kind.crd.crd_name
    names = crd["spec"]["names"]
    assert (names["kind"], names["listKind"]) == (kind.crd.kind, f"{kind.crd.kind}List")
    (version,) = crd["spec"]["versions"]
    assert version["served"]
    assert version["storage"]
    assert version["subresources"] == ({"status": {}} if kind.crd.status_subresource else {})


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.crd.kind)
def test_status_default_only_where_flux_sets_it(kind: type[objects.ApiObject]) -> None:
    status = crdgen.openapi_schema(kind)["properties"].get("status", {})

    assert status.get("default") == kind.crd.status_default


def test_write_all_refuses_a_non_structural_schema(tmp_path: pathlib.Path) -> None:
    class Broken(objects.ApiObject):
        crd = objects.CrdInfo(
            group="example.com", version="v1", kind="Broken", plural="brokens", singular="broken"
        )
        spec: int | str

    with pytest.raises(structural.NotStructuralError, match="union"):
        crdgen.write_all(tmp_path, [Broken])
    assert list(tmp_path.iterdir()) == []


def _root(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


STRUCTURAL_CASES = [
    ("ok", _root(spec=_root(a={"type": "string"})), []),
    (
        "missing type",
        _root(spec={"properties": {"a": {}}}),
        [".spec: type must be set", ".spec.a: type must be set"],
    ),
    (
        "preserve unknown fields exempts type",
        _root(values={"x-kubernetes-preserve-unknown-fields": True}),
        [],
    ),
    (
        "int-or-string exempts type",
        _root(port={"x-kubernetes-int-or-string": True}),
        [],
    ),
    ("ref", _root(spec={"$ref": "#/x"}), [".spec: $ref is not allowed", ".spec: type must be set"]),
    (
        "properties and additionalProperties",
        _root(m={"type": "object", "properties": {}, "additionalProperties": {"type": "string"}}),
        [".m: properties and additionalProperties are mutually exclusive"],
    ),
    (
        "metadata restricted beyond name",
        _root(metadata=_root(labels={"type": "object"})),
        [".metadata.labels: only name and generateName may be restricted"],
    ),
    (
        "type inside anyOf",
        _root(a={"type": "string", "anyOf": [{"type": "string"}]}),
        [".a: type is not allowed inside anyOf"],
    ),
    (
        "int-or-string with kubebuilder's anyOf of integer and string",
        _root(
            port={
                "x-kubernetes-int-or-string": True,
                "anyOf": [{"type": "integer"}, {"type": "string"}],
            }
        ),
        [],
    ),
    (
        "type inside anyOf of int-or-string beyond the pattern",
        _root(
            port={
                "x-kubernetes-int-or-string": True,
                "anyOf": [{"type": "integer"}, {"type": "boolean"}],
            }
        ),
        [".port: type is not allowed inside anyOf"] * 2,
    ),
    (
        "integer-and-string anyOf without int-or-string",
        _root(port={"type": "string", "anyOf": [{"type": "integer"}, {"type": "string"}]}),
        [".port: type is not allowed inside anyOf"] * 2,
    ),
    (
        "field only inside oneOf",
        _root(a={"type": "object", "oneOf": [{"properties": {"b": {}}}]}),
        [".a: oneOf names 'b', which is not specified outside"],
    ),
    (
        "ill-typed default",
        _root(a={"type": "integer", "default": "1"}),
        [".a: default '1' is not of type integer"],
    ),
    (
        "default outside enum",
        _root(a={"type": "string", "enum": ["x"], "default": "y"}),
        [".a: default 'y' is not one of the enum ['x']"],
    ),
    (
        "list map without keys",
        _root(l={"type": "array", "x-kubernetes-list-type": "map", "items": {"type": "object"}}),
        [".l: a list of type map needs x-kubernetes-list-map-keys"],
    ),
    (
        "list map key optional",
        _root(
            l={
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": _root(name={"type": "string"}),
            }
        ),
        [".l: list-map key 'name' must be required or defaulted"],
    ),
    (
        "tuple items",
        _root(l={"type": "array", "items": [{"type": "string"}]}),
        [".l: items must be a single schema"],
    ),
    ("root not object", {"type": "string"}, ["the root must have type object"]),
]


@pytest.mark.parametrize(
    ("schema", "problems"),
    [(schema, problems) for _, schema, problems in STRUCTURAL_CASES],
    ids=[name for name, _, _ in STRUCTURAL_CASES],
)
def test_structural_checker(schema: dict[str, Any], problems: list[str]) -> None:
    assert structural.check_schema(schema) == problems


# What `kubectl get <kind>` shows a Flux user (column names in Flux's CRD order;
# columns with priority 1 appear only with -o wide).
FLUX_COLUMNS = {
    "GitRepository": ["URL", "Age", "Ready", "Status"],
    "OCIRepository": ["URL", "Ready", "Status", "Age"],
    "HelmRepository": ["URL", "Age", "Ready", "Status"],
    "HelmChart": ["Chart", "Version", "Source Kind", "Source Name", "Age", "Ready", "Status"],
    "Bucket": ["Endpoint", "Age", "Ready", "Status"],
    "ExternalArtifact": ["Age", "Ready", "Status", "Source"],
    "Kustomization": ["Age", "Ready", "Status"],
    "HelmRelease": ["Age", "Ready", "Status"],
    "ImageRepository": ["Image", "Tags", "Ready", "Status", "Last scan", "Age"],
    "ImagePolicy": ["Image", "Tag", "Ready", "Status", "Age"],
    "ImageUpdateAutomation": ["Ready", "Status", "Last run", "Age"],
    "Receiver": ["Age", "Ready", "Status"],
    "Provider": ["Age"],
    "Alert": ["Age"],
    "ArtifactGenerator": ["Age", "Ready", "Status"],
}


def test_all_fifteen_flux_kinds_are_modelled() -> None:
    assert sorted(k.crd.kind for k in KINDS) == sorted(FLUX_COLUMNS)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.crd.kind)
def test_printer_columns_match_flux(kind: type[objects.ApiObject]) -> None:
    (version,) = crdgen.crd_for(kind)["spec"]["versions"]

    columns = [column["name"] for column in version.get("additionalPrinterColumns", [])]
    assert columns == FLUX_COLUMNS[kind.crd.kind]


# The versions Flux 2.9's own CRDs serve (config/crd/bases of source-controller
# 1.9, kustomize-controller 1.9, helm-controller, notification-controller and the
# image controllers): one each. The older ones (source v1beta2, kustomize
# v1beta2, helm v2beta1/v2beta2, image v1beta2, notification v1beta2) were
# removed from Flux's CRDs, so a manifest written for them is refused here as
# by Flux ("no matches for kind").
FLUX_29_SERVED = {
    "GitRepository": ["v1"], "OCIRepository": ["v1"], "HelmRepository": ["v1"],
    "HelmChart": ["v1"], "Bucket": ["v1"], "ExternalArtifact": ["v1"],
    "Kustomization": ["v1"], "HelmRelease": ["v2"],
    "Alert": ["v1beta3"], "Provider": ["v1beta3"], "Receiver": ["v1"],
    "ImageRepository": ["v1"], "ImagePolicy": ["v1"], "ImageUpdateAutomation": ["v1"],
    "ArtifactGenerator": ["v1beta1"],  # source-watcher's source.extensions.fluxcd.io
}  # fmt: skip


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.crd.kind)
def test_served_versions_are_flux_29s(kind: type[objects.ApiObject]) -> None:
    crd = crdgen.crd_for(kind)
    versions = crd["spec"]["versions"]
    assert [v["name"] for v in versions] == FLUX_29_SERVED[kind.crd.kind]
    assert [(v["served"], v["storage"]) for v in versions] == [(True, True)]
