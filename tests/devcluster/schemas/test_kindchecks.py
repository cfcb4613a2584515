"""Built-in kinds' own checks, table-driven (``kindchecks``)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import pytest

from devcluster.schemas import kindchecks


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("", None),
        ("YWJj", None),
        ("YWI=", None),
        ("YQ==", None),
        ("YW\nJj", None),
        ("not base64!", 3),
        ("YWJ", 0),
        ("Y", 0),
        ("Y===", 1),
        ("YQ=", 3),
        ("YQ=x", 2),
        ("YWI=YWI=", 4),
        ("YWJjZA", 4),
    ],
)
def test_base64_offsets_are_gos(text: str, offset: int | None) -> None:
    assert kindchecks.base64_error(text) == offset
    if offset is None:
        # What decodes here decodes in Python's strict decoder too.
        base64.b64decode(text.replace("\n", ""), validate=True)
    else:
        with pytest.raises(binascii.Error):
            base64.b64decode(text, validate=True)


def _deployment(**spec: Any) -> dict[str, Any]:
    template = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    }
    return {"spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template, **spec}}


@pytest.mark.parametrize(
    ("key", "obj", "fields"),
    [
        ("apps/deployments", _deployment(), []),
        ("apps/deployments", _deployment(replicas=-2), ["spec.replicas"]),
        ("apps/deployments", _deployment(template={"spec": {}}), [
            "spec.template.spec.containers", "spec.template.metadata.labels"]),
        ("apps/daemonsets", _deployment(template={"metadata": {"labels": {"app": "web"}},
                                                  "spec": {"containers": [{"name": "c"}]}}),
         ["spec.template.spec.containers[0].image"]),
        ("/pods", {"spec": {"containers": []}}, ["spec.containers"]),
        ("batch/cronjobs", {"spec": {"jobTemplate": {"spec": {"template": {"spec": {}}}}}},
         ["spec.jobTemplate.spec.template.spec.containers"]),
        ("/configmaps", {"data": {}}, []),
    ],
)  # fmt: skip
def test_field_errors(key: str, obj: dict[str, Any], fields: list[str]) -> None:
    assert [field for _, field, _ in kindchecks.causes(key, obj)] == fields
