"""The simulated kubelet: workloads become ready (or fail) the way clients judge them.

Judged by the real kubectl (``rollout status``, ``wait --for=condition=…``) and by
the status fields kstatus reads, against a running devcluster.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fixtures import devcluster as fixtures
from tests.fixtures import polling

Devcluster = fixtures.Devcluster
SIMULATE = "devcluster.headwater.dev/simulate"


poll = polling.poll


def get(devcluster: Devcluster, namespace: str, *what: str) -> dict[str, Any]:
    out = devcluster.kubectl("get", "-n", namespace, *what, "-o", "json").stdout
    result: dict[str, Any] = json.loads(out)
    return result


def apply(devcluster: Devcluster, namespace: str, *objects: dict[str, Any]) -> None:
    body = "\n---\n".join(json.dumps(obj) for obj in objects)
    devcluster.kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=body)


def pod_template(app: str, image: str = "nginx:1.27") -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {"containers": [{"name": "app", "image": image}]},
    }


def deployment(name: str, *, replicas: int = 2, mode: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if mode:
        meta["annotations"] = {SIMULATE: mode}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(name),
        },
    }


def job(name: str, *, mode: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if mode:
        meta["annotations"] = {SIMULATE: mode}
    template = pod_template(name, "busybox")
    template["spec"]["restartPolicy"] = "Never"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {"template": template},
    }


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


def owned_by(items: list[dict[str, Any]], owner: dict[str, Any]) -> list[dict[str, Any]]:
    uid = owner["metadata"]["uid"]
    return [
        i
        for i in items
        if any(
            r["uid"] == uid and r.get("controller")
            for r in i["metadata"].get("ownerReferences", [])
        )
    ]


def test_deployment_rolls_out_and_reports_kstatus_fields(
    devcluster: Devcluster, namespace: str
) -> None:
    apply(devcluster, namespace, deployment("web"))

    devcluster.kubectl("rollout", "status", "-n", namespace, "deployment/web", "--timeout=30s")
    devcluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Available", "deployment/web", "--timeout=30s"
    )

    deploy = get(devcluster, namespace, "deployment", "web")
    status = deploy["status"]
    assert status["observedGeneration"] == deploy["metadata"]["generation"]
    for field in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas"):
        assert status[field] == 2, field
    found = conditions(deploy)
    assert (found["Available"]["status"], found["Available"]["reason"]) == (
        "True",
        "MinimumReplicasAvailable",
    )
    assert (found["Progressing"]["status"], found["Progressing"]["reason"]) == (
        "True",
        "NewReplicaSetAvailable",
    )
    sets = owned_by(get(devcluster, namespace, "replicasets")["items"], deploy)
    assert len(sets) == 1
    rs = sets[0]
    assert rs["metadata"]["name"] == f"web-{rs['metadata']['labels']['pod-template-hash']}"
    assert rs["status"]["readyReplicas"] == 2
    pods = owned_by(get(devcluster, namespace, "pods")["items"], rs)
    assert len(pods) == 2
    for pod in pods:
        assert pod["status"]["phase"] == "Running"
        assert conditions(pod)["Ready"]["status"] == "True"
        assert conditions(pod)["ContainersReady"]["status"] == "True"


def test_template_change_rolls_to_a_new_replicaset(devcluster: Devcluster, namespace: str) -> None:
    apply(devcluster, namespace, deployment("roll", replicas=1))
    devcluster.kubectl("rollout", "status", "-n", namespace, "deployment/roll", "--timeout=30s")

    devcluster.kubectl("set", "image", "-n", namespace, "deployment/roll", "app=nginx:1.28")
    devcluster.kubectl("rollout", "status", "-n", namespace, "deployment/roll", "--timeout=30s")

    sets = get(devcluster, namespace, "replicasets")["items"]
    by_revision = {
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs for rs in sets
    }
    assert sorted(by_revision) == ["1", "2"]
    assert by_revision["1"]["spec"]["replicas"] == 0
    assert by_revision["2"]["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    poll(
        lambda: (
            [
                p["spec"]["containers"][0]["image"]
                for p in get(devcluster, namespace, "pods")["items"]
            ]
            == ["nginx:1.28"]
        ),
        what="only the new pod to remain",
    )


def test_scaling_changes_the_pod_count(devcluster: Devcluster, namespace: str) -> None:
    apply(devcluster, namespace, deployment("scale", replicas=1))
    devcluster.kubectl("rollout", "status", "-n", namespace, "deployment/scale", "--timeout=30s")

    # NB: ``kubectl scale`` needs the /scale subresource, which devcluster does not serve.
    devcluster.kubectl(
        "patch", "-n", namespace, "deployment/scale", "-p", '{"spec":{"replicas":3}}'
    )
    devcluster.kubectl("rollout", "status", "-n", namespace, "deployment/scale", "--timeout=30s")
    assert len(get(devcluster, namespace, "pods")["items"]) == 3

    devcluster.kubectl(
        "patch", "-n", namespace, "deployment/scale", "-p", '{"spec":{"replicas":1}}'
    )
    poll(lambda: len(get(devcluster, namespace, "pods")["items"]) == 1, what="scale down to 1")
    poll(
        lambda: get(devcluster, namespace, "deployment", "scale")["status"].get("replicas") == 1,
        what="status.replicas 1",
    )


def test_failing_deployment_exceeds_its_progress_deadline(
    devcluster: Devcluster, namespace: str
) -> None:
    apply(devcluster, namespace, deployment("broken", replicas=1, mode="fail"))

    result = devcluster.kubectl(
        "rollout", "status", "-n", namespace, "deployment/broken", "--timeout=30s", check=False
    )

    assert result.returncode != 0
    assert "exceeded its progress deadline" in result.stderr
    deploy = get(devcluster, namespace, "deployment", "broken")
    progressing = conditions(deploy)["Progressing"]
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert conditions(deploy)["Available"]["status"] == "False"
    (pod,) = get(devcluster, namespace, "pods")["items"]
    waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "CrashLoopBackOff"


def test_pending_deployment_never_becomes_available(devcluster: Devcluster, namespace: str) -> None:
    apply(devcluster, namespace, deployment("stuck", replicas=1, mode="pending"))

    pod = poll(
        lambda: next(
            (
                p
                for p in get(devcluster, namespace, "pods")["items"]
                if p.get("status", {}).get("conditions")
            ),
            None,
        ),
        what="the pod's simulated status",
    )

    assert pod["status"]["phase"] == "Pending"
    assert conditions(pod)["Ready"]["status"] == "False"
    deploy = poll(
        lambda: (
            (d := get(devcluster, namespace, "deployment", "stuck"))
            .get("status", {})
            .get("updatedReplicas")
            and d
        ),
        what="the deployment's status",
    )
    assert conditions(deploy)["Available"]["status"] == "False"
    assert conditions(deploy)["Progressing"]["status"] == "True"
    assert deploy["status"].get("availableReplicas", 0) == 0


def test_statefulset_rolls_out(devcluster: Devcluster, namespace: str) -> None:
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 2,
            "serviceName": "db",
            # NB: explicit because the API server's defaulting is not this test's subject.
            "updateStrategy": {"type": "RollingUpdate"},
            "selector": {"matchLabels": {"app": "db"}},
            "template": pod_template("db", "postgres:16"),
        },
    }
    apply(devcluster, namespace, sts)

    devcluster.kubectl("rollout", "status", "-n", namespace, "statefulset/db", "--timeout=30s")

    status = get(devcluster, namespace, "statefulset", "db")["status"]
    assert status["readyReplicas"] == status["updatedReplicas"] == status["replicas"] == 2
    assert status["currentRevision"] == status["updateRevision"]
    names = sorted(p["metadata"]["name"] for p in get(devcluster, namespace, "pods")["items"])
    assert names == ["db-0", "db-1"]


def test_daemonset_rolls_out_on_one_node(devcluster: Devcluster, namespace: str) -> None:
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {
            "updateStrategy": {"type": "RollingUpdate"},
            "selector": {"matchLabels": {"app": "agent"}},
            "template": pod_template("agent", "busybox"),
        },
    }
    apply(devcluster, namespace, ds)

    devcluster.kubectl("rollout", "status", "-n", namespace, "daemonset/agent", "--timeout=30s")

    status = get(devcluster, namespace, "daemonset", "agent")["status"]
    assert status["desiredNumberScheduled"] == status["numberReady"] == 1
    assert status["numberAvailable"] == status["updatedNumberScheduled"] == 1


def test_job_completes(devcluster: Devcluster, namespace: str) -> None:
    apply(devcluster, namespace, job("once"))

    devcluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Complete", "job/once", "--timeout=30s"
    )

    status = get(devcluster, namespace, "job", "once")["status"]
    assert status["succeeded"] == 1
    assert status["startTime"]
    assert status["completionTime"]
    (pod,) = get(devcluster, namespace, "pods")["items"]
    assert pod["status"]["phase"] == "Succeeded"
    assert pod["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "once"


def test_failing_job_fails_with_backoff_limit_exceeded(
    devcluster: Devcluster, namespace: str
) -> None:
    apply(devcluster, namespace, job("bad", mode="fail"))

    devcluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Failed", "job/bad", "--timeout=30s"
    )

    failed = conditions(get(devcluster, namespace, "job", "bad"))["Failed"]
    assert failed["reason"] == "BackoffLimitExceeded"
    assert "Complete" not in conditions(get(devcluster, namespace, "job", "bad"))


@pytest.mark.parametrize(
    ("mode", "restart", "phase", "ready"),
    [
        (None, "Always", "Running", "True"),
        ("pending", "Always", "Pending", "False"),
        (None, "Never", "Succeeded", "False"),
        ("fail", "Never", "Failed", "False"),
    ],
)
def test_bare_pod(
    devcluster: Devcluster, namespace: str, mode: str | None, restart: str, phase: str, ready: str
) -> None:
    template = pod_template("solo")
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "solo", **template["metadata"]},
        "spec": {**template["spec"], "restartPolicy": restart},
    }
    if mode:
        pod["metadata"]["annotations"] = {SIMULATE: mode}
    apply(devcluster, namespace, pod)

    found = poll(
        lambda: (
            (p := get(devcluster, namespace, "pod", "solo")).get("status", {}).get("conditions")
            and p
        ),
        what="the pod's status",
    )

    assert found["status"]["phase"] == phase
    assert conditions(found)["Ready"]["status"] == ready
