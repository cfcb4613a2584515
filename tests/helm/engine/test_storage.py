"""Helm's release storage: what the Helm SDK writes, the store reads, and the reverse."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import gzip
import json
import pathlib
from typing import Any

import helm_python as helm
import pytest

from controllers.helm.engine import failures, records, storage
from shared.kube import client
from tests.fixtures import devcluster as devcluster_fixtures

Devcluster = devcluster_fixtures.Devcluster
UTC = datetime.UTC


def sdk_install(config: helm.Config, chart_dir: pathlib.Path, **values: Any) -> dict[str, Any]:
    return config.install(
        helm.Chart.load(chart_dir),
        "demo",
        values or None,
        wait="watcher",
        timeout=60,
        labels={"team": "a"},
        description="by the SDK",
    )


def secrets(devcluster: Devcluster, namespace: str) -> list[dict[str, Any]]:
    out = devcluster.kubectl("get", "-n", namespace, "secrets", "-l", "owner=helm", "-o", "json")
    items: list[dict[str, Any]] = json.loads(out.stdout)["items"]
    return sorted(items, key=lambda item: item["metadata"]["name"])


async def test_a_release_the_sdk_installed_decodes(
    devcluster: Devcluster, namespace: str, api: client.Client, helm_config: helm.Config,
    chart_dir: pathlib.Path,
) -> None:  # fmt: skip
    sdk_install(helm_config, chart_dir, greeting="hi")
    store = storage.ReleaseStore(api, namespace)

    (record,) = await store.history("demo")

    assert (record.name, record.namespace, record.version) == ("demo", namespace, 1)
    assert record.status == records.Status.DEPLOYED
    assert (record.chart_name, record.chart_version, record.app_version) == ("demo", "0.1.0", "1.0")
    assert record.config == {"greeting": "hi"}
    assert record.labels == {"team": "a"}
    assert record.description == "by the SDK"
    assert record.notes.startswith("Thanks for installing demo.")
    assert "kind: ConfigMap" in record.manifest
    assert "helm.sh/hook" not in record.manifest
    migrate = next(hook for hook in record.hooks if hook.name == "demo-migrate")
    assert migrate.events == ("pre-install", "pre-upgrade")
    assert migrate.delete_policies == ("before-hook-creation", "hook-succeeded")
    assert migrate.last_run.phase == "Succeeded"
    assert record.first_deployed is not None
    assert record.first_deployed.tzinfo is UTC
    assert record.first_deployed == record.last_deployed
    assert await store.latest("demo") == record
    assert await store.deployed("demo") == record
    assert await store.get("demo", 1) == record


async def test_the_codec_round_trips_what_the_sdk_stored(
    devcluster: Devcluster, namespace: str, helm_config: helm.Config, chart_dir: pathlib.Path
) -> None:
    sdk_install(helm_config, chart_dir)
    (secret,) = secrets(devcluster, namespace)
    stored = json.loads(
        gzip.decompress(base64.b64decode(base64.b64decode(secret["data"]["release"])))
    )

    record = storage.from_secret(secret)
    written = records.to_json(record)

    # Helm's own JSON, field for field, but for Go's nanoseconds (kept to the
    # microsecond) and the chart file times the SDK does not expose.
    def coarse(release: dict[str, Any]) -> dict[str, Any]:
        def times(fields: dict[str, Any]) -> dict[str, Any]:
            return {
                key: records.parse_time(value) if key.endswith(("deployed", "_at")) else value
                for key, value in fields.items()
            }

        hooks = [{**hook, "last_run": times(hook["last_run"])} for hook in release["hooks"]]
        return {**release, "info": times(release["info"]), "hooks": hooks}

    assert list(written) == list(stored)
    assert coarse(written) == coarse(stored)


async def test_revisions_the_store_writes_are_helms_to_list_and_roll_back(
    devcluster: Devcluster, namespace: str, api: client.Client, helm_config: helm.Config,
    chart_dir: pathlib.Path,
) -> None:  # fmt: skip
    sdk_install(helm_config, chart_dir)
    store = storage.ReleaseStore(api, namespace)
    first = await store.latest("demo")
    assert first is not None
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    second = dataclasses.replace(
        first,
        version=2,
        config={"greeting": "bye"},
        manifest=first.manifest.replace('greeting: "hello"', 'greeting: "bye"'),
        description="Upgrade complete",
        last_deployed=moment,
        labels={"team": "b"},
    )

    await store.update(first.with_status(records.Status.SUPERSEDED, "superseded by 2"))
    await store.create(second)

    listed = helm_config.list()
    assert [(r["name"], r["revision"], r["status"]) for r in listed] == [("demo", 2, "deployed")]
    history = helm_config.history("demo")
    assert [(r["revision"], r["status"]) for r in history] == [(1, "superseded"), (2, "deployed")]
    assert history[1]["labels"]["team"] == "b"
    assert helm_config.get_values("demo") == {"greeting": "bye"}
    assert helm_config.get_values("demo", revision=1) is None  # Helm: no user values
    assert helm_config.status("demo")["deployed_at"] == "2026-01-02T03:04:05Z"
    names = [secret["metadata"]["name"] for secret in secrets(devcluster, namespace)]
    assert names == ["sh.helm.release.v1.demo.v1", "sh.helm.release.v1.demo.v2"]

    helm_config.rollback("demo", version=1, wait="watcher", timeout=60)

    assert [(r.version, r.status) for r in await store.history("demo")] == [
        (1, records.Status.SUPERSEDED),
        (2, records.Status.SUPERSEDED),
        (3, records.Status.DEPLOYED),
    ]
    rolled = await store.get("demo", 3)
    assert rolled.description == "Rollback to 1"


async def test_prune_keeps_max_history_minus_one_and_the_deployed_revision(
    namespace: str, api: client.Client
) -> None:
    store = storage.ReleaseStore(api, namespace)
    statuses = ["superseded", "deployed", "failed", "failed"]
    for version, status in enumerate(statuses, start=1):
        await store.create(record(version, records.Status(status)))

    deleted = await store.prune("web", max_history=3)

    # Room for the revision about to be stored: two remain, the deployed one kept.
    assert deleted == [1, 3]
    assert [(r.version, r.status) for r in await store.history("web")] == [
        (2, records.Status.DEPLOYED),
        (4, records.Status.FAILED),
    ]


async def test_storing_a_revision_twice_is_a_storage_error(
    namespace: str, api: client.Client
) -> None:
    store = storage.ReleaseStore(api, namespace)
    await store.create(record(1, records.Status.DEPLOYED))

    with pytest.raises(failures.StorageError, match="cannot store revision 1 of release web"):
        await store.create(record(1, records.Status.DEPLOYED))


async def test_a_missing_revision_is_not_found(namespace: str, api: client.Client) -> None:
    store = storage.ReleaseStore(api, namespace)

    with pytest.raises(failures.ReleaseNotFoundError):
        await store.get("web", 7)
    assert await store.history("web") == []
    assert await store.latest("web") is None


def record(version: int, status: records.Status) -> records.ReleaseRecord:
    return records.ReleaseRecord(
        name="web",
        namespace="apps",
        version=version,
        status=status,
        chart={"metadata": {"name": "web", "version": "1.0.0", "apiVersion": "v2"}},
        config={},
        manifest="",
    )


def test_a_secret_without_release_data_is_a_storage_error() -> None:
    secret = {"metadata": {"name": "sh.helm.release.v1.web.v1"}, "data": {}}

    with pytest.raises(failures.StorageError, match="has no release data"):
        storage.from_secret(secret)


def test_uncompressed_release_json_decodes_as_old_helm_wrote_it() -> None:
    payload = json.dumps({"name": "web", "version": 3, "info": {"status": "failed"}})

    decoded = storage.decode(base64.b64encode(payload.encode()))

    assert (decoded.name, decoded.version, decoded.status) == ("web", 3, records.Status.FAILED)


def test_go_times_read_and_write_as_go_does() -> None:
    moment = records.parse_time("2026-12-06T05:45:16.159873956Z")

    assert moment == datetime.datetime(2026, 12, 6, 5, 45, 16, 159873, tzinfo=UTC)
    assert records.format_time(moment) == "2026-12-06T05:45:16.159873Z"
    assert records.format_time(moment.replace(microsecond=500000)) == "2026-12-06T05:45:16.5Z"
    assert records.parse_time("0001-01-01T00:00:00Z") is None
    assert records.parse_time("") is None
