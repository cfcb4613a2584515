"""Values composition: valuesFrom (ConfigMaps, Secrets, targetPath) then values (pure)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import pytest

from controllers.helm import values
from shared.api import meta

OBJECTS: dict[tuple[str, str], dict[str, Any]] = {
    ("ConfigMap", "base"): {
        "data": {"values.yaml": "replicas: 2\nimage:\n  tag: v1\n  pull: IfNotPresent\n"}
    },
    ("ConfigMap", "custom-key"): {"data": {"prod.yaml": "image:\n  tag: v2\n"}},
    ("ConfigMap", "flat"): {"data": {"port": "8080", "quoted": '"8080"', "list": "a,b"}},
    ("ConfigMap", "broken"): {"data": {"values.yaml": "a: [unclosed"}},
    ("ConfigMap", "scalar"): {"data": {"values.yaml": "just text"}},
    ("Secret", "creds"): {
        "data": {"values.yaml": base64.b64encode(b"password: s3cret\n").decode()}
    },
    ("Secret", "token"): {"data": {"token": base64.b64encode(b"abc").decode()}},
}  # fmt: skip


async def _fetch(kind: str, name: str) -> Mapping[str, Any] | None:
    return OBJECTS.get((kind, name))


def ref(kind: str, name: str, **fields: Any) -> meta.ValuesReference:
    return meta.ValuesReference.model_validate({"kind": kind, "name": name, **fields})


@pytest.mark.parametrize(
    ("references", "inline", "want"),
    [
        pytest.param([], {"a": 1}, {"a": 1}, id="inline only"),
        pytest.param(
            [ref("ConfigMap", "base")],
            None,
            {"replicas": 2, "image": {"tag": "v1", "pull": "IfNotPresent"}},
            id="configmap values.yaml",
        ),
        pytest.param(
            [ref("ConfigMap", "base"), ref("ConfigMap", "custom-key", valuesKey="prod.yaml")],
            None,
            {"replicas": 2, "image": {"tag": "v2", "pull": "IfNotPresent"}},
            id="later references merge over earlier ones",
        ),
        pytest.param(
            [ref("ConfigMap", "base")],
            {"replicas": 5, "image": {"pull": "Always"}},
            {"replicas": 5, "image": {"tag": "v1", "pull": "Always"}},
            id="inline values win",
        ),
        pytest.param([ref("Secret", "creds")], None, {"password": "s3cret"}, id="secret decoded"),
        pytest.param(
            [ref("ConfigMap", "flat", valuesKey="port", targetPath="service.port")],
            None,
            {"service": {"port": 8080}},
            id="targetPath typed like --set",
        ),
        pytest.param(
            [ref("ConfigMap", "flat", valuesKey="quoted", targetPath="service.port")],
            None,
            {"service": {"port": "8080"}},
            id="targetPath quoted value stays a string",
        ),
        pytest.param(
            [ref("ConfigMap", "flat", valuesKey="list", targetPath="x", literal=True)],
            None,
            {"x": "a,b"},
            id="targetPath literal",
        ),
        pytest.param(
            [
                ref("ConfigMap", "base"),
                ref("Secret", "token", valuesKey="token", targetPath="image.token"),
            ],
            None,
            {"replicas": 2, "image": {"tag": "v1", "pull": "IfNotPresent", "token": "abc"}},
            id="targetPath keeps siblings",
        ),
        pytest.param(
            [ref("ConfigMap", "missing", optional=True)], {"a": 1}, {"a": 1}, id="optional object"
        ),
        pytest.param(
            [ref("ConfigMap", "base", valuesKey="nope.yaml", optional=True)],
            None,
            {},
            id="optional key",
        ),
    ],
)
async def test_compose(
    references: list[meta.ValuesReference], inline: dict[str, Any] | None, want: dict[str, Any]
) -> None:
    got = await values.compose(references, inline, namespace="apps", fetch=_fetch)
    assert got == want


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        (ref("ConfigMap", "missing"), "could not find ConfigMap 'apps/missing'"),
        (ref("Secret", "creds", valuesKey="other"), "missing key 'other' in Secret 'apps/creds'"),
        (ref("ConfigMap", "broken"), "unable to read values from key 'values.yaml'"),
        (ref("ConfigMap", "scalar"), "not a YAML map"),
    ],
)
async def test_compose_failures(reference: meta.ValuesReference, message: str) -> None:
    with pytest.raises(values.ValuesError, match=message.replace("(", r"\(")):
        await values.compose([reference], None, namespace="apps", fetch=_fetch)
