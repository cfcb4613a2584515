"""What real clients hit, with the real kubectl: client-side apply of custom resources.

kubectl's client-side apply picks a strategic merge patch only when the
OpenAPI documents list ``application/strategic-merge-patch+json`` for the
kind's PATCH operation; kube-apiserver leaves it out for custom resources
(which refuse it with 415), so kubectl sends a JSON merge patch instead.
"""

from __future__ import annotations

import json

from tests.fixtures import devcluster as fixtures
from tests.fixtures import polling

Devcluster = fixtures.Devcluster

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gizmos.example.org
spec:
  group: example.org
  scope: Namespaced
  names: {plural: gizmos, singular: gizmo, kind: Gizmo}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              interval: {type: string}
              url: {type: string}
"""


def _gizmo(namespace: str, **spec: str) -> str:
    return json.dumps(
        {
            "apiVersion": "example.org/v1",
            "kind": "Gizmo",
            "metadata": {"name": "g", "namespace": namespace},
            "spec": spec,
        }
    )


def _served(devcluster: Devcluster) -> bool:
    return devcluster.kubectl("get", "gizmos", "-A", check=False).returncode == 0


def test_client_side_apply_updates_a_custom_resource(
    devcluster: Devcluster, namespace: str
) -> None:
    devcluster.kubectl("apply", "-f", "-", input=CRD)
    polling.poll(lambda: _served(devcluster), timeout=20, what="gizmos served")
    first = _gizmo(namespace, interval="1m", url="https://example.org/a")
    assert "created" in devcluster.kubectl("apply", "-f", "-", input=first).stdout

    second = _gizmo(namespace, interval="5m")
    out = devcluster.kubectl("apply", "-f", "-", input=second)

    assert "configured" in out.stdout
    got = json.loads(devcluster.kubectl("get", "-n", namespace, "gizmo", "g", "-o", "json").stdout)
    # A JSON merge patch of the three-way diff: interval changed, url removed.
    assert got["spec"] == {"interval": "5m"}
