"""TLS with bearer token, SQLite persistence across restarts, private state, SIGTERM exit."""

from __future__ import annotations

import base64
import json
import pathlib
import ssl
import stat
import time
import urllib.error
import urllib.request

import aiohttp
import pytest
import yaml

from tests.fixtures import crdbodies
from tests.fixtures import devcluster as fixtures


def test_tls_with_bearer_token(tmp_path: pathlib.Path) -> None:
    with fixtures.start_devcluster(tmp_path / "tls", tls=True, controllers=False) as cluster:
        config = yaml.safe_load(cluster.kubeconfig.read_text())
        assert config["clusters"][0]["cluster"]["server"].startswith("https://")
        assert "certificate-authority-data" in config["clusters"][0]["cluster"]
        out = cluster.kubectl("get", "namespaces", "-o", "name").stdout.split()
        assert "namespace/kube-system" in out
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        request = urllib.request.Request(f"{cluster.base_url}/api/v1/namespaces")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, context=context, timeout=10)
        assert refused.value.code == 401
        assert json.loads(refused.value.read())["reason"] == "Unauthorized"
        request.add_header("Authorization", f"Bearer {cluster.token()}")
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            assert response.status == 200
        assert fixtures.stop(cluster.process) == 0


CRD = json.dumps(crdbodies.crd(group="persist.example.com", plural="things", kind="Thing"))
THING = json.dumps(
    {
        "apiVersion": "persist.example.com/v1",
        "kind": "Thing",
        "metadata": {"name": "t1", "namespace": "default"},
        "spec": {"a": 1},
    }
)


def test_sqlite_persists_objects_and_versions(tmp_path: pathlib.Path) -> None:
    data = tmp_path / "data"
    cm = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "kept", "namespace": "default"},
            "data": {"a": "1"},
        }
    )
    with fixtures.start_devcluster(tmp_path / "one", data_dir=data, controllers=False) as first:
        first.kubectl("create", "-f", "-", input=cm)
        first.kubectl("apply", "-f", "-", input=CRD)
        first.kubectl("apply", "--server-side", "-f", "-", input=THING)
        before = json.loads(first.kubectl("get", "cm", "kept", "-o", "json").stdout)
        assert fixtures.stop(first.process) == 0
    with fixtures.start_devcluster(tmp_path / "two", data_dir=data, controllers=False) as second:
        after = json.loads(second.kubectl("get", "cm", "kept", "-o", "json").stdout)
        assert after["metadata"]["uid"] == before["metadata"]["uid"]
        assert after["data"] == {"a": "1"}
        second.kubectl("patch", "cm", "kept", "--type=merge", "-p", '{"data":{"a":"2"}}')
        patched = json.loads(second.kubectl("get", "cm", "kept", "-o", "json").stdout)
        assert int(patched["metadata"]["resourceVersion"]) > int(
            before["metadata"]["resourceVersion"]
        )
        things = second.kubectl("get", "things", "-o", "name").stdout.split()
        assert things == ["thing.persist.example.com/t1"]
        namespaces = second.kubectl("get", "ns", "-o", "name").stdout.split()
        assert namespaces.count("namespace/default") == 1


SECRET = json.dumps(
    {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "default"},
        "stringData": {"password": "s3cret"},
    }
)


def _modes(paths: list[pathlib.Path]) -> dict[str, str]:
    return {path.name: oct(stat.S_IMODE(path.stat().st_mode)) for path in paths}


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_state_and_kubeconfig_are_private_whatever_the_umask(
    tmp_path: pathlib.Path, umask: int
) -> None:
    data = tmp_path / "data"
    state = [data / "devcluster.sqlite3", data / "devcluster.sqlite3-wal"]
    state.append(data / "devcluster.sqlite3-shm")
    with fixtures.start_devcluster(
        tmp_path / "one", data_dir=data, tls=True, controllers=False, umask=umask
    ) as cluster:
        cluster.kubectl("create", "-f", "-", input=SECRET)
        files = [*state, cluster.kubeconfig]
        assert _modes(files) == {path.name: "0o600" for path in files}
        stored = b"".join(path.read_bytes() for path in state[:2])
        assert base64.b64encode(b"s3cret") in stored  # these files do hold the Secret
        assert fixtures.stop(cluster.process) == 0


def test_state_left_readable_by_an_older_version_is_made_private_at_open(
    tmp_path: pathlib.Path,
) -> None:
    data = tmp_path / "data"
    with fixtures.start_devcluster(tmp_path / "one", data_dir=data, controllers=False) as first:
        first.kubectl("create", "-f", "-", input=SECRET)
        assert fixtures.stop(first.process) == 0
    leftovers = sorted(data.iterdir())
    for path in leftovers:
        path.chmod(0o644)
    with fixtures.start_devcluster(tmp_path / "two", data_dir=data, controllers=False) as second:
        second.kubectl("get", "secret", "creds")
        assert _modes(leftovers) == {path.name: "0o600" for path in leftovers}


async def test_sigterm_exits_promptly_with_open_watches(tmp_path: pathlib.Path) -> None:
    with fixtures.start_devcluster(tmp_path / "term", controllers=False) as cluster:
        async with aiohttp.ClientSession() as session:
            url = f"{cluster.base_url}/api/v1/configmaps"
            async with session.get(url, params={"watch": "true"}) as response:
                assert response.status == 200
                started = time.monotonic()
                assert fixtures.stop(cluster.process) == 0
                assert time.monotonic() - started < 8


async def test_kubernetes_asyncio_over_tls_with_token(tmp_path: pathlib.Path) -> None:
    from kubernetes_asyncio import client, config

    with fixtures.start_devcluster(tmp_path / "ka-tls", tls=True, controllers=False) as cluster:
        configuration = client.Configuration()
        await config.load_kube_config(
            config_file=str(cluster.kubeconfig), client_configuration=configuration
        )
        async with client.ApiClient(configuration) as api:
            namespaces = await client.CoreV1Api(api).list_namespace()
        assert "kube-system" in [item.metadata.name for item in namespaces.items]
