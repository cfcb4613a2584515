"""kustomize-controller as Flux 2.9 behaves where production users lean on it.

Config watchers (a labelled ConfigMap or Secret triggers its Kustomizations),
SOPS beyond age keys, and the events Flux emits. The GitOps loop fixtures
are those of ``test_kustomize_controller``.
"""

from __future__ import annotations

import base64
import json
import pathlib
import re
from collections.abc import Iterator
from typing import Any

import pyrage
import pytest
import yaml

from tests.e2e import objects
from tests.e2e import test_kustomize_controller as gitops
from tests.e2e.test_kustomize_controller import CONFIGMAP, Loop
from tests.fixtures import recording
from tests.fixtures.polling import eventually_sync
from tests.kustomize import openpgp_keys, sops_vectors

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# The GitOps loop's fixtures, shared with the core loop's tests.
controllers = gitops.controllers
loop = gitops.loop

GROUP = "kustomize.toolkit.fluxcd.io"
GO_DURATION = r"([0-9]+h)?([0-9]+m)?[0-9.]+(ns|µs|ms|s)"
GLOBAL_AGE_SECRET = "global-age"


@pytest.fixture
def notifications() -> Iterator[recording.Recorder]:
    """Where kustomize-controller POSTs its Flux events (a notification-controller's place)."""
    with recording.serving({"/": b""}) as sink:
        yield sink


@pytest.fixture
def kustomize_flags(notifications: recording.Recorder) -> list[str]:
    return ["--events-addr", notifications.url + "/", "--sops-age-secret", GLOBAL_AGE_SECRET]


def _events(sink: recording.Recorder, name: str) -> list[dict[str, Any]]:
    """The Flux events received about Kustomization ``name``, in arrival order."""
    received = [json.loads(body) for body in list(sink.bodies)]
    return [e for e in received if e["involvedObject"]["name"] == name]


def _event(sink: recording.Recorder, name: str, pattern: str) -> dict[str, Any]:
    """The first event about ``name`` whose message matches ``pattern``, once it arrives."""

    def probe() -> dict[str, Any] | None:
        found = [e for e in _events(sink, name) if re.fullmatch(pattern, e["message"])]
        return found[0] if found else None

    return eventually_sync(probe, within=90, message=f"no event {pattern!r} about {name}")


def _labelled_config_source(loop: Loop) -> None:
    """Kustomization ``app`` building ConfigMap ``app`` from the watch-labelled ConfigMap
    ``vars`` (color=red), once Ready."""
    repo = loop.make_repo("templated.git")
    head = repo.commit(
        "Templated config", {"deploy/config.yaml": CONFIGMAP.format(name="app", color="${color}")}
    )
    loop.kubectl("create", "configmap", "vars", "--from-literal=color=red")
    loop.kubectl("label", "configmap", "vars", "reconcile.fluxcd.io/watch=Enabled")
    loop.sources(
        "templated.git", path="./deploy",
        postBuild={"substituteFrom": [{"kind": "ConfigMap", "name": "vars"}]},
    )  # fmt: skip
    loop.wait_ready("app", head)


def test_a_watched_config_change_triggers_the_kustomization_at_once(loop: Loop) -> None:
    # NB: spec.interval is an hour: only the watch can bring the new value in time.
    _labelled_config_source(loop)
    assert (loop.get("configmap", "app") or {})["data"]["color"] == "red"

    loop.kubectl("patch", "configmap", "vars", "--type=merge", "-p", '{"data":{"color":"blue"}}')

    def recolored() -> bool:
        return bool((loop.get("configmap", "app") or {}).get("data", {}).get("color") == "blue")

    eventually_sync(recolored, within=60, message="the watched ConfigMap's change was not applied")


@pytest.mark.parametrize("kustomize_flags", [["--feature-gates=DisableConfigWatchers=true"]])
def test_disabled_config_watchers_leave_changes_to_the_next_reconcile(loop: Loop) -> None:
    """With the gate, no ConfigMap/Secret watcher starts (the controller says so); the
    changed value arrives with the next reconcile, here one requested by annotation."""
    _labelled_config_source(loop)
    assert "ConfigMap and Secret watchers disabled by feature gate" in loop.kustomize.output()

    loop.kubectl("patch", "configmap", "vars", "--type=merge", "-p", '{"data":{"color":"blue"}}')
    objects.request_reconcile(loop.cluster, loop.namespace, "kustomization", "app", "now")

    def recolored() -> bool:
        return bool((loop.get("configmap", "app") or {}).get("data", {}).get("color") == "blue")

    eventually_sync(recolored, within=60, message="the requested reconcile did not apply it")


def test_events_are_the_ones_flux_emits(loop: Loop, notifications: recording.Recorder) -> None:
    repo = loop.make_repo("events.git")
    head = repo.commit(
        "Base and a broken overlay",
        {
            "base/config.yaml": CONFIGMAP.format(name="base", color="blue"),
            "broken/kustomization.yaml": "resources:\n- missing.yaml\n",
        },
    )
    revision = f"master@sha1:{head}"
    loop.sources("events.git", path="./base", dependsOn=[{"name": "base"}])

    waiting = _event(notifications, "app", "Dependencies do not meet ready condition, .*")
    assert waiting["message"] == "Dependencies do not meet ready condition, retrying in 1s"
    assert (waiting["severity"], waiting["reason"]) == ("info", "DependencyNotReady")
    assert waiting["metadata"][f"{GROUP}/revision"] == revision

    loop.kustomization("base", path="./base")
    loop.wait_ready("base", head)
    changed = _event(notifications, "base", "ConfigMap/.*/base created")
    assert (changed["severity"], changed["reason"]) == ("info", "Progressing")
    assert changed["metadata"][f"{GROUP}/revision"] == revision
    finished = _event(
        notifications, "base", f"Reconciliation finished in {GO_DURATION}, next run in 1h0m0s"
    )
    assert (finished["severity"], finished["reason"]) == ("info", "ReconciliationSucceeded")
    assert finished["metadata"] == {
        f"{GROUP}/revision": revision,
        f"{GROUP}/commit_status": "update",
    }
    # Only the finished event asks the notification-controller for a commit status.
    assert [
        e["message"]
        for e in _events(notifications, "base")
        if f"{GROUP}/commit_status" in e.get("metadata", {})
    ] == [finished["message"]]
    assert _events(notifications, "base").index(changed) < _events(notifications, "base").index(
        finished
    )

    loop.kustomization("broken", path="./broken")
    failed = eventually_sync(loop.failed_with("broken", "BuildFailed"), within=90)
    warning = _event(notifications, "broken", ".*missing.yaml.*")
    assert (warning["severity"], warning["reason"]) == ("error", "BuildFailed")
    assert warning["metadata"][f"{GROUP}/revision"] == revision
    assert "missing.yaml" in failed["message"]
    broken = loop.get("kustomization", "broken") or {}
    assert broken["status"]["lastAttemptedRevision"] == revision

    loop.kubectl("delete", "kustomization", "base", "--timeout=60s")
    pruned = _event(notifications, "base", "ConfigMap/.*/base deleted")
    assert pruned["severity"] == "info"
    assert pruned["metadata"][f"{GROUP}/revision"] == revision


def _secret(name: str, password: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "stringData": {"password": password},
    }


def _password(loop: Loop, name: str) -> bytes | None:
    applied = loop.get("secret", name)
    return base64.b64decode(applied["data"]["password"]) if applied else None


def test_sops_beyond_age_keys_and_encrypted_secrets_without_decryption(
    loop: Loop, tmp_path: pathlib.Path
) -> None:
    identity = pyrage.x25519.Identity.generate()
    plain = tmp_path / "pgp.yaml"
    plain.write_text(yaml.safe_dump(_secret("by-pgp", "opened with gpg")))
    with openpgp_keys.generated_key() as key:
        by_pgp = openpgp_keys.sops_encrypt(plain, key, "--encrypted-regex", "^stringData$")
        keys = key.secret("pgp-keys")
    by_age = sops_vectors.encrypt(
        _secret("by-age", "opened by the controller's key"),
        [identity.to_public()],
        encrypted_regex="^(data|stringData)$",
    )
    repo = loop.make_repo("sops-more.git")
    head = repo.commit(
        "Secrets for OpenPGP, the controller's age key, and nobody",
        {
            "pgp/secret.yaml": by_pgp.decode(),
            "age/secret.yaml": yaml.safe_dump(by_age),
            "plain/secret.yaml": yaml.safe_dump(by_age),
        },
    )
    keys["metadata"]["namespace"] = loop.namespace
    objects.apply(loop.cluster, keys)
    fallback = sops_vectors.age_secret(identity, name=GLOBAL_AGE_SECRET)
    fallback["metadata"]["namespace"] = loop.namespace  # the controller's runtime namespace
    objects.apply(loop.cluster, fallback)

    loop.sources(
        "sops-more.git", path="./pgp",
        decryption={"provider": "sops", "secretRef": {"name": "pgp-keys"}},
    )  # fmt: skip
    loop.kustomization("by-age", path="./age", decryption={"provider": "sops"})
    loop.kustomization("undecrypted", path="./plain")

    loop.wait_ready("app", head)
    assert _password(loop, "by-pgp") == b"opened with gpg"
    loop.wait_ready("by-age", head)
    assert _password(loop, "by-age") == b"opened by the controller's key"
    refused = eventually_sync(loop.failed_with("undecrypted", "ReconciliationFailed"), within=90)
    assert refused["message"] == (
        f"Secret/{loop.namespace}/by-age is SOPS encrypted, configuring decryption is "
        "required for this secret to be reconciled"
    )
