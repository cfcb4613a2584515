"""A Bucket's client from its spec and Secrets, against a devcluster: Flux's pinned failures.

Table-driven, as source-controller's ``TestBucketReconciler_reconcileSource``:
each row is a spec (and the Secrets that exist) and the reason, message and
stalling of the ``ConnectError`` it gives, or the client type it builds.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import pathlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from controllers.source.bucket import azureblob, connecting, gcs, s3
from shared.api import source
from shared.kube import client
from tests.fixtures import countingproxy
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import s3 as s3_fixtures

s3_server = s3_fixtures.s3_server

_names = itertools.count()
_SECRETS: dict[str, dict[str, str]] = {
    "empty": {},
    "keys": {"accesskey": "a", "secretkey": "s"},
    "ldap-half": {"username": "u"},
    "proxy-half": {"username": "u"},
    "not-pem": {"ca.crt": "not a certificate"},
    "gcp-key": {"serviceaccount": "{}"},
    "managed": {"clientId": "c"},
    "account": {"accountKey": "a2V5"},
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devcluster_fixtures.Devcluster]:
    with devcluster_fixtures.start_devcluster(tmp_path_factory.mktemp("connect")) as running:
        yield running


@pytest.fixture(scope="module")
def namespace(cluster: devcluster_fixtures.Devcluster) -> str:
    name = f"connect{next(_names)}"
    cluster.kubectl("create", "namespace", name)
    for secret, data in _SECRETS.items():
        body = {
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": secret, "namespace": name},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        }  # fmt: skip
        cluster.kubectl("apply", "-f", "-", input=json.dumps(body))
    return name


@pytest.fixture
async def api(cluster: devcluster_fixtures.Devcluster) -> AsyncIterator[client.Client]:
    async with client.connected(kubeconfig=str(cluster.kubeconfig)) as connected:
        yield connected


def _bucket(namespace: str, **spec: Any) -> source.Bucket:
    return source.Bucket.model_validate(
        {"metadata": {"name": "b", "namespace": namespace},
         "spec": {"interval": "1m", "bucketName": "bk", "endpoint": "127.0.0.1:9", **spec}}
    )  # fmt: skip


def _ref(name: str) -> dict[str, str]:
    return {"name": name}


LDAP = {"provider": "ldap", "endpoint": "http://127.0.0.1:9"}

# spec, reason, message (with {ns} for the namespace), stalling
FAILURES: list[tuple[dict[str, Any], str, str, bool]] = [
    ({"secretRef": _ref("dummy")}, "AuthenticationFailed",
     "failed to get secret '{ns}/dummy': secret '{ns}/dummy' not found", False),
    ({"secretRef": _ref("empty")}, "AuthenticationFailed",
     "invalid 'empty' secret data: required fields 'accesskey' and 'secretkey'", False),
    ({"certSecretRef": _ref("dummy")}, "AuthenticationFailed",
     "failed to get TLS config: secret '{ns}/dummy' not found", False),
    ({"certSecretRef": _ref("empty")}, "AuthenticationFailed",
     "failed to get TLS config: secret 'empty' must contain either 'ca.crt' or both 'tls.crt' "
     "and 'tls.key'", False),
    ({"certSecretRef": _ref("not-pem")}, "AuthenticationFailed",
     "failed to get TLS config: secret 'not-pem': ca.crt is not a valid PEM certificate", False),
    ({"proxySecretRef": _ref("dummy")}, "AuthenticationFailed",
     "failed to get proxy URL: secret '{ns}/dummy' not found", False),
    ({"proxySecretRef": _ref("proxy-half")}, "AuthenticationFailed",
     "failed to get proxy URL: secret '{ns}/proxy-half': key 'address' not found", False),
    ({"sts": {**LDAP, "secretRef": _ref("dummy")}}, "AuthenticationFailed",
     "failed to get STS secret '{ns}/dummy': secret '{ns}/dummy' not found", False),
    ({"sts": {**LDAP, "secretRef": _ref("ldap-half")}}, "AuthenticationFailed",
     "invalid 'ldap-half' secret data for 'ldap' STS provider: required fields username, "
     "password", False),
    ({"sts": {**LDAP, "certSecretRef": _ref("dummy")}}, "AuthenticationFailed",
     "failed to get STS TLS config: secret '{ns}/dummy' not found", False),
    ({"sts": {**LDAP, "certSecretRef": _ref("empty")}}, "AuthenticationFailed",
     "failed to get STS TLS config: secret 'empty' must contain either 'ca.crt' or both "
     "'tls.crt' and 'tls.key'", False),
    ({"provider": "aws", "sts": {"provider": "aws", "endpoint": "http://127.0.0.1:9"}},
     "AuthenticationFailed",
     "STS provider 'aws' needs the controller's web identity: AWS_ROLE_ARN and "
     "AWS_WEB_IDENTITY_TOKEN_FILE are not set", True),
    ({"provider": "aws", "serviceAccountName": "irsa"}, "FeatureGateDisabled",
     "spec.serviceAccountName (object-level workload identity) is not supported: use "
     "spec.secretRef", True),
    ({"provider": "gcp", "secretRef": _ref("keys")}, "AuthenticationFailed",
     "invalid 'keys' secret data: required fields 'serviceaccount'", False),
    ({"provider": "gcp", "secretRef": _ref("gcp-key")}, "AuthenticationFailed",
     "invalid service account key: it needs client_email, token_uri and an RSA private_key",
     False),
    ({"provider": "azure", "secretRef": _ref("keys")}, "AuthenticationFailed",
     "invalid 'keys' secret data: requires a 'clientId' or 'accountKey' field, a combination of "
     "'tenantId', 'clientId' and 'clientSecret', or 'tenantId', 'clientId' and "
     "'clientCertificate'", False),
    ({"provider": "azure", "secretRef": _ref("managed")}, "AuthenticationFailed",
     "authentication with a managed identity (clientId without tenantId) is not supported: use "
     "'accountKey', 'sasKey' or 'tenantId', 'clientId' and 'clientSecret'", True),
    ({"provider": "azure", "endpoint": "https://example.com", "secretRef": _ref("account")},
     "AuthenticationFailed",
     "failed to create client from 'account' Secret data: failed to extract account name from "
     "endpoint: expected 'example.com' to be a subdomain", False),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "reason", "message", "stalling"), FAILURES)
async def test_a_spec_that_cannot_connect_says_why(
    api: client.Client,
    namespace: str,
    spec: dict[str, Any],
    reason: str,
    message: str,
    stalling: bool,
) -> None:
    with pytest.raises(connecting.ConnectError) as failed:
        await connecting.connect(api, _bucket(namespace, **spec))

    assert str(failed.value) == message.format(ns=namespace)
    assert (failed.value.reason, failed.value.stalling) == (reason, stalling)


@pytest.mark.parametrize(
    ("spec", "client_type"),
    [
        ({"secretRef": _ref("keys")}, s3.Bucket),
        ({"provider": "aws"}, s3.Bucket),
        ({"provider": "gcp"}, gcs.Bucket),
        ({"provider": "azure", "endpoint": "http://127.0.0.1:9/acct",
          "secretRef": _ref("account")}, azureblob.Container),
        ({"provider": "azure", "endpoint": "https://acct.blob.core.windows.net"},
         azureblob.Container),
    ],
)  # fmt: skip
async def test_each_provider_gets_its_client(
    api: client.Client, namespace: str, spec: dict[str, Any], client_type: type
) -> None:
    bucket = await connecting.connect(api, _bucket(namespace, **spec))
    try:
        assert isinstance(bucket, client_type)
    finally:
        await bucket.close()


def test_an_sts_provider_the_bucket_provider_does_not_take_stalls() -> None:
    """The CRD refuses the pair; a model built past it (as here) still stalls, in Flux's words."""
    bucket = _bucket("ns", provider="generic")
    bucket.spec.sts = source.BucketSTSSpec(provider="aws", endpoint="http://127.0.0.1:9")

    with pytest.raises(connecting.ConnectError) as refused:
        asyncio.run(connecting.connect(None, bucket))  # type: ignore[arg-type]

    assert str(refused.value) == "STS provider 'aws' is not supported for 'generic' bucket provider"
    assert (refused.value.reason, refused.value.stalling) == ("InvalidSTSConfiguration", True)


async def test_aws_web_identity_is_exchanged_at_the_sts_endpoint(
    api: client.Client,
    namespace: str,
    s3_server: s3_fixtures.S3Server,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """IRSA's environment; moto's STS (on the S3 server's port) issues the role's keys."""
    s3_server.client().create_bucket(Bucket="irsa")
    s3_server.put("irsa", {"i.yaml": "i: 1\n"})
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.e30.c2ln\n")
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/flux")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    with countingproxy.counting_proxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)  # NB: only to see the STS call
        sts_endpoint = f"http://{s3_server.endpoint}"
        bucket = await connecting.connect(api, _bucket(
            namespace, provider="aws", bucketName="irsa", endpoint=s3_server.endpoint,
            insecure=True, sts={"provider": "aws", "endpoint": sts_endpoint},
        ))  # fmt: skip
        try:
            assert list(await bucket.list(None)) == ["i.yaml"]
        finally:
            await bucket.close()
        assert ("POST", "") in proxy.requests  # AssumeRoleWithWebIdentity
