"""postBuild: variable collection, name validation, per-object substitution and opt-out."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import pytest

from controllers.kustomize import substituting
from shared.api import kustomize
from shared.kube import manifests


def _post_build(**fields: Any) -> kustomize.PostBuild:
    return kustomize.PostBuild.model_validate(fields)


def _fetcher(objects: dict[tuple[str, str], dict[str, Any]]) -> substituting.Fetch:
    async def fetch(reference: kustomize.SubstituteReference) -> Mapping[str, Any] | None:
        return objects.get((reference.kind, reference.name))

    return fetch


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def test_variables_follow_flux_precedence() -> None:
    objects = {
        ("ConfigMap", "first"): {"data": {"a": "cm", "b": "cm", "multi": "x\ny\n"}},
        ("Secret", "second"): {"data": {"b": _b64("secret"), "c": _b64("s3cr3t\n")}},
    }
    post_build = _post_build(
        substitute={"c": "inline", "d": "in\nline"},
        substituteFrom=[
            {"kind": "ConfigMap", "name": "first"},
            {"kind": "Secret", "name": "second"},
            {"kind": "ConfigMap", "name": "absent", "optional": True},
        ],
    )
    variables = await substituting.collect_variables(post_build, fetch=_fetcher(objects))
    assert variables == {"a": "cm", "b": "secret", "multi": "xy", "c": "inline", "d": "inline"}


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("ConfigMap", "substitute from 'ConfigMap/gone' error: configmaps \"gone\" not found"),
        ("Secret", "substitute from 'Secret/gone' error: secrets \"gone\" not found"),
    ],
)
async def test_missing_required_source_fails(kind: str, message: str) -> None:
    post_build = _post_build(substituteFrom=[{"kind": kind, "name": "gone"}])
    with pytest.raises(substituting.SubstitutionError) as caught:
        await substituting.collect_variables(post_build, fetch=_fetcher({}))
    assert str(caught.value) == message


async def test_no_post_build_means_no_variables() -> None:
    assert await substituting.collect_variables(None, fetch=_fetcher({})) == {}


@pytest.mark.parametrize(
    ("strategy", "variables", "want"),
    [
        (None, {}, False),
        (None, {"a": "b"}, True),
        ("WithVariables", {}, False),
        ("Always", {}, True),
    ],
)
def test_enabled_by_variables_or_always(
    strategy: str | None, variables: dict[str, str], want: bool
) -> None:
    post_build = _post_build(substituteStrategy=strategy) if strategy else _post_build()
    assert substituting.enabled(post_build, variables) is want


def test_disabled_without_post_build() -> None:
    assert substituting.enabled(None, {"a": "b"}) is False


@pytest.mark.parametrize("name", ["1abc", "a-b", "a.b", "", "é"])
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(substituting.SubstitutionError) as caught:
        substituting.validate_names({"ok": "1", name: "x"})
    assert str(caught.value) == (
        f"'{name}' var name is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'"
    )


def test_valid_names_pass() -> None:
    substituting.validate_names({"_a": "", "A1_b": "", "x": ""})


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: ${namespace:=default}
spec:
  replicas: ${replicas}
  template:
    spec:
      containers:
      - name: app
        image: "nginx:${tag}"
        args: ["--level", "${level:=info}"]
        env:
        - name: QUOTED
          value: "${replicas}"
        - name: ESCAPED
          value: $${HOME}
"""


def test_substitutes_on_the_text_and_reparses() -> None:
    obj = manifests.load_all(DEPLOYMENT)[0]
    out = substituting.substitute_document(DEPLOYMENT, obj, {"replicas": "3", "tag": "1.27"})
    assert out["metadata"]["namespace"] == "default"
    assert out["spec"]["replicas"] == 3
    container = out["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.27"
    assert container["args"] == ["--level", "info"]
    assert container["env"] == [
        {"name": "QUOTED", "value": "3"},
        {"name": "ESCAPED", "value": "${HOME}"},
    ]


@pytest.mark.parametrize("where", ["labels", "annotations"])
def test_opted_out_object_is_left_alone(where: str) -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"
        f"  {where}:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\n"
        "data:\n  v: ${x}\n"
    )
    obj = manifests.load_all(text)[0]
    assert substituting.substitute_document(text, obj, {"x": "y"}) is obj
    assert obj["data"]["v"] == "${x}"


def test_opt_out_needs_the_exact_value() -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations:\n"
        "    kustomize.toolkit.fluxcd.io/substitute: Disabled\ndata:\n  v: ${x}\n"
    )
    obj = manifests.load_all(text)[0]
    assert substituting.substitute_document(text, obj, {"x": "y"})["data"]["v"] == "y"


@pytest.mark.parametrize(
    ("text", "strict", "message"),
    [
        (
            "a: ${x\n",
            False,
            "YAMLToJSON: variable substitution failed: missing closing brace",
        ),
        (
            "a: ${missing}\n",
            True,
            'YAMLToJSON: variable substitution failed: variable not set (strict mode): "missing"',
        ),
    ],
)
def test_errors_read_like_flux(text: str, strict: bool, message: str) -> None:
    with pytest.raises(substituting.SubstitutionError) as caught:
        substituting.substitute_document(text, {}, {"x": "1"}, strict=strict)
    assert str(caught.value) == message


def test_substitution_producing_invalid_yaml_fails() -> None:
    text = "a: ${x}\n"
    with pytest.raises(substituting.SubstitutionError) as caught:
        substituting.substitute_document(text, {}, {"x": "[unclosed"})
    assert str(caught.value).startswith("YAMLToJSON: error converting YAML to JSON")


def test_strict_missing_variable_with_default_is_fine() -> None:
    out = substituting.substitute_document("a: ${missing:=7}\n", {}, {"x": "1"}, strict=True)
    assert out == {"a": 7}
