"""Loading kubeconfig files and in-cluster service accounts into a ``Connection``."""

from __future__ import annotations

import base64
import json
import pathlib
import sys
from typing import Any

import pytest
import yaml

from shared.kube import client, errors, kubeconfig
from tests.fixtures import devcluster as devcluster_fixtures

PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
PEM64 = base64.b64encode(PEM).decode()


def _write(
    directory: pathlib.Path,
    *,
    cluster: dict[str, Any],
    user: dict[str, Any],
    current: str | None = "main",
) -> pathlib.Path:
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "c", "cluster": {"server": "https://127.0.0.1:6443/", **cluster}},
            {"name": "other", "cluster": {"server": "https://127.0.0.2:6443"}},
        ],
        "users": [{"name": "u", "user": user}, {"name": "nobody", "user": {}}],
        "contexts": [
            {"name": "main", "context": {"cluster": "c", "user": "u"}},
            {"name": "second", "context": {"cluster": "other", "user": "nobody"}},
        ],
    }
    if current:
        document["current-context"] = current
    path = directory / "config"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(
    ("cluster", "user", "expected"),
    [
        ({}, {}, {"host": "https://127.0.0.1:6443", "ca_file": None, "token": None}),
        ({"certificate-authority": "ca.crt"}, {}, {"ca_file": "{dir}/ca.crt"}),
        ({"certificate-authority": "/etc/ca.crt"}, {}, {"ca_file": "/etc/ca.crt"}),
        ({"certificate-authority-data": PEM64}, {}, {"ca_data": PEM}),
        ({"insecure-skip-tls-verify": True}, {}, {"insecure_skip_tls_verify": True}),
        ({"tls-server-name": "api.local"}, {}, {"tls_server_name": "api.local"}),
        (
            {},
            {"client-certificate": "certs/tls.crt", "client-key": "certs/tls.key"},
            {"cert_file": "{dir}/certs/tls.crt", "key_file": "{dir}/certs/tls.key"},
        ),
        (
            {},
            {"client-certificate-data": PEM64, "client-key-data": PEM64},
            {"cert_data": PEM, "key_data": PEM},
        ),
        ({}, {"token": "abc"}, {"token": "abc", "token_file": None}),
        ({}, {"username": "admin", "password": "pw"}, {"username": "admin", "password": "pw"}),
    ],
)
async def test_each_kubeconfig_field_is_loaded(
    tmp_path: pathlib.Path,
    cluster: dict[str, Any],
    user: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    path = _write(tmp_path, cluster=cluster, user=user)

    connection = await kubeconfig.load(kubeconfig=str(path))

    seen = {field: getattr(connection, field) for field in expected}
    wanted = {
        field: value.replace("{dir}", str(tmp_path)) if isinstance(value, str) else value
        for field, value in expected.items()
    }
    assert seen == wanted


@pytest.mark.parametrize(
    ("user", "header"),
    [
        ({}, None),
        ({"token": "abc"}, "Bearer abc"),
        (
            {"username": "admin", "password": "pw"},
            "Basic " + base64.b64encode(b"admin:pw").decode(),
        ),
    ],
)
async def test_authorization_header(
    tmp_path: pathlib.Path, user: dict[str, Any], header: str | None
) -> None:
    connection = await kubeconfig.load(kubeconfig=str(_write(tmp_path, cluster={}, user=user)))

    assert await connection.authorization() == header


async def test_a_token_file_relative_to_the_kubeconfig_is_read(tmp_path: pathlib.Path) -> None:
    (tmp_path / "token").write_text("from-file\n")
    path = _write(tmp_path, cluster={}, user={"tokenFile": "token"})

    connection = await kubeconfig.load(kubeconfig=str(path))

    assert await connection.authorization() == "Bearer from-file"


async def test_the_given_context_wins_over_current_context(tmp_path: pathlib.Path) -> None:
    path = _write(tmp_path, cluster={}, user={"token": "abc"})

    connection = await kubeconfig.load(kubeconfig=str(path), context="second")

    assert (connection.host, connection.token) == ("https://127.0.0.2:6443", None)


async def test_the_first_kubeconfig_path_is_the_primary(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, cluster={}, user={"token": "abc"})
    monkeypatch.setenv("KUBECONFIG", f"{path}:{tmp_path / 'absent'}")

    connection = await kubeconfig.load()

    assert connection.token == "abc"


@pytest.mark.parametrize(
    ("cluster", "user", "current", "context", "message"),
    [
        ({}, {}, None, None, "names no current-context"),
        ({}, {}, "main", "missing", "context 'missing' not found"),
        ({"certificate-authority-data": "not base64!"}, {}, "main", None, "not valid base64"),
        ({}, {"client-key-data": "%%%"}, "main", None, "client-key-data is not valid base64"),
    ],
)
async def test_unusable_kubeconfigs_are_clear_errors(
    tmp_path: pathlib.Path,
    cluster: dict[str, Any],
    user: dict[str, Any],
    current: str | None,
    context: str | None,
    message: str,
) -> None:
    path = _write(tmp_path, cluster=cluster, user=user, current=current)

    with pytest.raises(errors.UnreachableError, match=message) as raised:
        await kubeconfig.load(kubeconfig=str(path), context=context)

    assert str(raised.value).startswith("cannot load the Kubernetes configuration: ")


async def test_a_missing_or_malformed_file_is_a_clear_error(tmp_path: pathlib.Path) -> None:
    (tmp_path / "list").write_text("- a\n- b\n")

    with pytest.raises(errors.UnreachableError, match="cannot read"):
        await kubeconfig.load(kubeconfig=str(tmp_path / "absent"))
    with pytest.raises(errors.UnreachableError, match="is not a kubeconfig"):
        await kubeconfig.load(kubeconfig=str(tmp_path / "list"))


async def test_in_cluster_rereads_the_rotated_token(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token").write_text("first")
    (tmp_path / "ca.crt").write_bytes(PEM)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.setattr(kubeconfig, "TOKEN_REREAD_SECONDS", 0.0)

    connection = kubeconfig.in_cluster(tmp_path)
    assert connection is not None
    first = await connection.authorization()
    (tmp_path / "token").write_text("second")

    assert (connection.host, connection.ca_file) == (
        "https://[fd00::1]:443",
        str(tmp_path / "ca.crt"),
    )
    assert (first, await connection.authorization()) == ("Bearer first", "Bearer second")


def test_no_in_cluster_connection_without_the_service_account_files(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")

    assert kubeconfig.in_cluster(tmp_path) is None


async def test_an_exec_plugin_is_delegated_to_kubernetes_asyncio(tmp_path: pathlib.Path) -> None:
    plugin = tmp_path / "plugin.py"
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {"token": "from-exec"},
    }
    plugin.write_text(f"print({json.dumps(json.dumps(credential))})\n")
    exec_entry = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": sys.executable,
        "args": [str(plugin)],
        "interactiveMode": "Never",
    }
    path = _write(tmp_path, cluster={"insecure-skip-tls-verify": True}, user={"exec": exec_entry})

    connection = await kubeconfig.load(kubeconfig=str(path))

    assert connection.delegated is not None
    assert connection.host == "https://127.0.0.1:6443"
    assert connection.insecure_skip_tls_verify
    assert await connection.authorization() == "Bearer from-exec"


async def test_the_client_reaches_a_tls_cluster_with_ca_data_and_with_a_relative_ca_file(
    tmp_path: pathlib.Path,
) -> None:
    with devcluster_fixtures.start_devcluster(
        tmp_path / "tls", tls=True, controllers=False
    ) as cluster:
        document = yaml.safe_load(cluster.kubeconfig.read_text())
        entry = document["clusters"][0]["cluster"]
        (tmp_path / "ca.crt").write_bytes(base64.b64decode(entry.pop("certificate-authority-data")))
        entry["certificate-authority"] = "ca.crt"
        relative = tmp_path / "relative.yaml"
        relative.write_text(yaml.safe_dump(document))

        names = []
        for path in (cluster.kubeconfig, relative):
            async with client.connected(kubeconfig=str(path)) as api:
                listed = await api.request("GET", "/api/v1/namespaces")
            names.append(sorted(item["metadata"]["name"] for item in listed["items"]))

    assert "kube-system" in names[0]
    assert names[0] == names[1]
