"""Acceptance: the real kubectl 1.37 against a devcluster (docs/devcluster.md)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import time
from typing import Any

from tests.fixtures import devcluster as fixtures

Devcluster = fixtures.Devcluster

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd], categories: [gadgets]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Color, type: string, jsonPath: .spec.color}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, minimum: 1}
              color: {type: string, enum: [red, blue], default: red}
          status:
            type: object
            properties:
              phase: {type: string}
"""


def _cm(name: str, namespace: str, **data: str) -> str:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }
    return json.dumps(body)


def _get(devcluster: Devcluster, *args: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(devcluster.kubectl("get", *args, "-o", "json").stdout)
    return found


def test_version(devcluster: Devcluster) -> None:
    out = devcluster.kubectl("version", "-o", "json").stdout
    server = json.loads(out)["serverVersion"]
    assert (server["major"], server["minor"]) == ("1", "37")


def test_api_resources_lists_builtins_and_crds(devcluster: Devcluster) -> None:
    devcluster.kubectl("apply", "-f", "-", input=CRD)
    devcluster.kubectl(
        "wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=20s"
    )
    out = devcluster.kubectl("api-resources").stdout
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "cm" in lines["configmaps"]
    assert "deploy" in lines["deployments"]
    assert "widgets" in lines
    assert "wd" in lines["widgets"]
    assert "example.com/v1" in lines["widgets"]


def test_ssa_create_update_noop_conflict_force(devcluster: Devcluster, namespace: str) -> None:
    created = devcluster.kubectl(
        "apply", "--server-side", "-f", "-", input=_cm("s", namespace, a="1")
    )
    assert "serverside-applied" in created.stdout
    first = _get(devcluster, "-n", namespace, "cm", "s", "--show-managed-fields")
    devcluster.kubectl("apply", "--server-side", "-f", "-", input=_cm("s", namespace, a="1"))
    again = _get(devcluster, "-n", namespace, "cm", "s", "--show-managed-fields")
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    devcluster.kubectl("apply", "--server-side", "-f", "-", input=_cm("s", namespace, a="2"))
    assert _get(devcluster, "-n", namespace, "cm", "s")["data"] == {"a": "2"}
    conflict = devcluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager",
        "other",
        "-f",
        "-",
        input=_cm("s", namespace, a="3"),
        check=False,
    )
    assert conflict.returncode != 0
    assert "conflict" in conflict.stderr.lower()
    assert ".data.a" in conflict.stderr
    devcluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager",
        "other",
        "--force-conflicts",
        "-f",
        "-",
        input=_cm("s", namespace, a="3"),
    )
    final = _get(devcluster, "-n", namespace, "cm", "s", "--show-managed-fields")
    assert final["data"] == {"a": "3"}
    managers = {m["manager"] for m in final["metadata"]["managedFields"]}
    assert "other" in managers


def test_client_side_apply_create_and_update(devcluster: Devcluster, namespace: str) -> None:
    out = devcluster.kubectl("apply", "-f", "-", input=_cm("c", namespace, a="1")).stdout
    assert "created" in out
    out = devcluster.kubectl("apply", "-f", "-", input=_cm("c", namespace, b="2")).stdout
    assert "configured" in out
    assert _get(devcluster, "-n", namespace, "cm", "c")["data"] == {"b": "2"}


def test_create_existing_is_already_exists(devcluster: Devcluster, namespace: str) -> None:
    devcluster.kubectl("create", "-f", "-", input=_cm("e", namespace))
    again = devcluster.kubectl("create", "-f", "-", input=_cm("e", namespace), check=False)
    assert again.returncode == 1
    assert "AlreadyExists" in again.stderr
    assert "already exists" in again.stderr


def test_get_yaml_and_table_with_printer_columns(devcluster: Devcluster, namespace: str) -> None:
    devcluster.kubectl("apply", "-f", "-", input=CRD)
    devcluster.kubectl(
        "wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=20s"
    )
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w1", "namespace": namespace},
        "spec": {"size": 3},
    }
    devcluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(widget))
    yaml_out = devcluster.kubectl("get", "-n", namespace, "widget", "w1", "-o", "yaml").stdout
    assert "color: red" in yaml_out  # defaulted
    result = devcluster.kubectl("get", "-n", namespace, "wd")
    table = result.stdout.splitlines()
    assert len(table) == 2, result
    assert table[0].split() == ["NAME", "SIZE", "COLOR", "AGE"]
    assert table[1].split()[:3] == ["w1", "3", "red"]
    assert table[1].split()[3].endswith("s")  # an age such as "0s", not a timestamp
    devcluster.kubectl("create", "-f", "-", input=_cm("t", namespace, a="1", b="2"))
    cms = devcluster.kubectl("get", "-n", namespace, "cm").stdout.splitlines()
    assert cms[0].split() == ["NAME", "DATA", "AGE"]
    assert cms[1].split()[:2] == ["t", "2"]


def test_get_watch_prints_changes(devcluster: Devcluster, namespace: str) -> None:
    devcluster.kubectl("create", "-f", "-", input=_cm("w", namespace, a="1"))
    watcher = subprocess.Popen(
        [
            str(fixtures.KUBECTL),
            "--kubeconfig",
            str(devcluster.kubeconfig),
            "--cache-dir",
            str(devcluster.cache_dir),
            "get",
            "-n",
            namespace,
            "cm",
            "-w",
            "--request-timeout=30s",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout is not None
        header = watcher.stdout.readline()
        assert header.split() == ["NAME", "DATA", "AGE"]
        assert watcher.stdout.readline().split()[:2] == ["w", "1"]
        devcluster.kubectl("create", "-f", "-", input=_cm("w2", namespace, a="1", b="2"))
        assert watcher.stdout.readline().split()[:2] == ["w2", "2"]
    finally:
        fixtures.stop_process(watcher)


def test_diff_exit_codes_client_and_server_side(devcluster: Devcluster, namespace: str) -> None:
    for name, extra in (("dc", ()), ("ds", ("--server-side",))):
        devcluster.kubectl("apply", *extra, "-f", "-", input=_cm(name, namespace, a="1"))
        same = devcluster.kubectl(
            "diff", *extra, "-f", "-", input=_cm(name, namespace, a="1"), check=False
        )
        assert same.returncode == 0, same.stdout + same.stderr
        changed = devcluster.kubectl(
            "diff", *extra, "-f", "-", input=_cm(name, namespace, a="2"), check=False
        )
        assert changed.returncode == 1, changed.stderr
        assert '+  a: "2"' in changed.stdout
        assert _get(devcluster, "-n", namespace, "cm", name)["data"] == {"a": "1"}


def test_delete_waits_for_finalizer(devcluster: Devcluster, namespace: str) -> None:
    body = json.loads(_cm("f", namespace))
    body["metadata"]["finalizers"] = ["example.com/hold"]
    devcluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(body))
    deleting = subprocess.Popen(
        [
            str(fixtures.KUBECTL),
            "--kubeconfig",
            str(devcluster.kubeconfig),
            "--cache-dir",
            str(devcluster.cache_dir),
            "delete",
            "-n",
            namespace,
            "cm",
            "f",
            "--timeout=30s",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while "deletionTimestamp" not in _get(devcluster, "-n", namespace, "cm", "f")["metadata"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert deleting.poll() is None  # still waiting on the finalizer
        devcluster.kubectl(
            "patch",
            "-n",
            namespace,
            "cm",
            "f",
            "--type=merge",
            "-p",
            '{"metadata":{"finalizers":null}}',
        )
        out, err = deleting.communicate(timeout=20)
        assert deleting.returncode == 0, err
        assert 'configmap "f" deleted' in out
    finally:
        fixtures.stop_process(deleting)
    gone = devcluster.kubectl("get", "-n", namespace, "cm", "f", check=False)
    assert gone.returncode == 1
    assert "NotFound" in gone.stderr


def test_namespace_deletion_removes_contents(devcluster: Devcluster) -> None:
    devcluster.kubectl("create", "namespace", "doomed")  # a protobuf request body
    devcluster.kubectl("create", "-f", "-", input=_cm("inside", "doomed"))
    devcluster.kubectl("create", "secret", "generic", "s", "-n", "doomed", "--from-literal=k=v")
    devcluster.kubectl("delete", "namespace", "doomed", "--timeout=30s")
    assert devcluster.kubectl("get", "namespace", "doomed", check=False).returncode == 1
    for kind in ("cm", "secrets"):
        listed = _get(devcluster, kind, "-A")
        assert not [i for i in listed["items"] if i["metadata"]["namespace"] == "doomed"]


def test_get_with_set_based_label_selector(devcluster: Devcluster, namespace: str) -> None:
    for name, tier in (("l1", "web"), ("l2", "db"), ("l3", "cache")):
        body = json.loads(_cm(name, namespace))
        body["metadata"]["labels"] = {"tier": tier}
        devcluster.kubectl("create", "-f", "-", input=json.dumps(body))
    devcluster.kubectl("create", "-f", "-", input=_cm("l4", namespace))
    names = devcluster.kubectl(
        "get", "-n", namespace, "cm", "-l", "tier in (web,db)", "-o", "name"
    ).stdout.split()
    assert sorted(names) == ["configmap/l1", "configmap/l2"]
    names = devcluster.kubectl(
        "get", "-n", namespace, "cm", "-l", "tier notin (web),tier", "-o", "name"
    ).stdout.split()
    assert sorted(names) == ["configmap/l2", "configmap/l3"]
    names = devcluster.kubectl(
        "get", "-n", namespace, "cm", "-l", "!tier", "-o", "name"
    ).stdout.split()
    assert "configmap/l4" in names
    assert "configmap/l1" not in names


def test_apply_kustomization(
    devcluster: Devcluster, namespace: str, tmp_path: pathlib.Path
) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        f"namespace: {namespace}\nnamePrefix: dev-\nresources: [cm.yaml]\n"
        "configMapGenerator:\n- name: gen\n  literals: [k=v]\n"
    )
    (tmp_path / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: b\n"
    )
    devcluster.kubectl("apply", "--server-side", "-k", str(tmp_path))
    names = devcluster.kubectl("get", "-n", namespace, "cm", "-o", "name").stdout.split()
    assert "configmap/dev-x" in names
    assert any(n.startswith("configmap/dev-gen-") for n in names)


DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80}]
"""


def test_wait_available_and_rollout_status(devcluster: Devcluster, namespace: str) -> None:
    devcluster.kubectl("apply", "-n", namespace, "--server-side", "-f", "-", input=DEPLOYMENT)
    devcluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Available", "deployment/web", "--timeout=30s"
    )
    out = devcluster.kubectl(
        "rollout", "status", "-n", namespace, "deployment/web", "--timeout=30s"
    ).stdout
    assert "successfully rolled out" in out
    table = devcluster.kubectl("get", "-n", namespace, "deploy", "web").stdout.splitlines()
    assert table[1].split()[:2] == ["web", "2/2"]
