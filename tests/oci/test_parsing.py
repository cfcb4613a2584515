"""Pure parsers: dockerconfigjson credentials, references, WWW-Authenticate challenges."""

from __future__ import annotations

import base64
import json

import pytest

from shared.oci import challenges, credentials, errors, references

Credentials = credentials.Credentials


def _config(auths: dict[str, dict[str, str]]) -> bytes:
    return json.dumps({"auths": auths}).encode()


def _auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("auths", "host", "want"),
    [
        pytest.param({"ghcr.io": {"auth": _auth("u", "p")}}, "ghcr.io",
                     Credentials("u", "p"), id="auth-base64"),
        pytest.param({"ghcr.io": {"auth": _auth("u", "pa:ss")}}, "ghcr.io",
                     Credentials("u", "pa:ss"), id="password-with-colon"),
        pytest.param({"ghcr.io": {"username": "u", "password": "p"}}, "ghcr.io",
                     Credentials("u", "p"), id="username-password"),
        pytest.param({"https://ghcr.io/v1/": {"auth": _auth("u", "p")}}, "ghcr.io",
                     Credentials("u", "p"), id="key-with-scheme-and-path"),
        pytest.param({"GHCR.io": {"auth": _auth("u", "p")}}, "ghcr.io",
                     Credentials("u", "p"), id="case-insensitive"),
        pytest.param({"127.0.0.1:5000": {"auth": _auth("u", "p")}}, "127.0.0.1:5000",
                     Credentials("u", "p"), id="host-with-port"),
        pytest.param({"127.0.0.1:5000": {"auth": _auth("u", "p")}}, "127.0.0.1:5001",
                     None, id="other-port"),
        pytest.param({"quay.io": {"auth": _auth("u", "p")}}, "ghcr.io", None, id="other-host"),
        pytest.param({"https://index.docker.io/v1/": {"auth": _auth("hub", "p")}}, "docker.io",
                     Credentials("hub", "p"), id="docker-hub-legacy-key"),
        pytest.param({"https://index.docker.io/v1/": {"auth": _auth("hub", "p")}},
                     "registry-1.docker.io", Credentials("hub", "p"), id="docker-hub-api-host"),
        pytest.param({"docker.io": {"auth": _auth("hub", "p")}}, "index.docker.io",
                     Credentials("hub", "p"), id="docker-hub-alias"),
        pytest.param({"https://ghcr.io": {"auth": _auth("by-host", "p")},
                      "ghcr.io": {"auth": _auth("exact", "p")}}, "ghcr.io",
                     Credentials("exact", "p"), id="exact-key-wins"),
        pytest.param({"ghcr.io": {"registrytoken": "tok"}}, "ghcr.io",
                     Credentials(token="tok"), id="registry-token"),
    ],
)  # fmt: skip
def test_dockerconfigjson_credentials_for_a_host(
    auths: dict[str, dict[str, str]], host: str, want: Credentials | None
) -> None:
    assert credentials.from_dockerconfigjson(_config(auths), host) == want


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"{not json", "not valid JSON", id="not-json"),
        pytest.param(b'{"credsStore": "desktop"}', "no 'auths'", id="no-auths"),
        pytest.param(_config({"ghcr.io": {"auth": "!!!"}}), "not base64", id="bad-base64"),
        pytest.param(_config({"ghcr.io": {"auth": base64.b64encode(b"nocolon").decode()}}),
                     "username:password", id="no-colon"),
        pytest.param(_config({"ghcr.io": {"password": "p"}}), "neither 'auth' nor 'username'",
                     id="no-username"),
        pytest.param(_config({"ghcr.io": {"identitytoken": "t"}}), "identitytoken",
                     id="identity-token"),
    ],
)  # fmt: skip
def test_invalid_dockerconfigjson_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(errors.InvalidCredentialsError, match=message):
        credentials.from_dockerconfigjson(data, "ghcr.io")


def test_credentials_repr_hides_the_secret() -> None:
    shown = repr(Credentials("user", "hunter2", "tok3n"))
    assert "hunter2" not in shown
    assert "tok3n" not in shown


DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("oci://ghcr.io/org/app:1.0", references.Reference("ghcr.io", "org/app", "1.0")),
        ("127.0.0.1:5000/charts/podinfo", references.Reference("127.0.0.1:5000", "charts/podinfo")),
        ("localhost/app:v1", references.Reference("localhost", "app", "v1")),
        ("nginx", references.Reference("docker.io", "library/nginx")),
        ("bitnami/redis:7", references.Reference("docker.io", "bitnami/redis", "7")),
        (f"ghcr.io/a/b@{DIGEST}", references.Reference("ghcr.io", "a/b", "", DIGEST)),
        (f"ghcr.io/a/b:1@{DIGEST}", references.Reference("ghcr.io", "a/b", "1", DIGEST)),
    ],
)
def test_references_parse_and_normalize(text: str, want: references.Reference) -> None:
    assert references.parse(text) == want


def test_docker_hub_references_use_the_api_host() -> None:
    ref = references.parse("nginx:1.27")
    assert (ref.api_host, ref.identifier, str(ref)) == (
        "registry-1.docker.io",
        "1.27",
        "docker.io/library/nginx:1.27",
    )


@pytest.mark.parametrize(
    "text",
    ["ghcr.io/Org/app", "ghcr.io/app:bad/tag", "ghcr.io/app@sha256:short", "ghcr.io/", ""],
)
def test_invalid_references_are_refused(text: str) -> None:
    with pytest.raises(errors.InvalidReferenceError):
        references.parse(text)


@pytest.mark.parametrize(
    ("header", "want"),
    [
        (
            'Bearer realm="https://auth.example/token",service="registry.example",'
            'scope="repository:org/app:pull,push"',
            challenges.Challenge("bearer", {"realm": "https://auth.example/token",
                                            "service": "registry.example",
                                            "scope": "repository:org/app:pull,push"}),
        ),
        ('Basic realm="headwater"', challenges.Challenge("basic", {"realm": "headwater"})),
        ("bearer Realm=https://a/t, service=s",
         challenges.Challenge("bearer", {"realm": "https://a/t", "service": "s"})),
        ('Bearer realm="a \\"quoted\\" realm"',
         challenges.Challenge("bearer", {"realm": 'a "quoted" realm'})),
        ("Bearer", challenges.Challenge("bearer", {})),
    ],
)  # fmt: skip
def test_challenges_parse(header: str, want: challenges.Challenge) -> None:
    assert challenges.parse(header) == want


def test_bearer_is_answered_before_basic() -> None:
    picked = challenges.pick(['Basic realm="r"', 'Bearer realm="https://t"', "garbage=1"])
    assert picked is not None
    assert picked.scheme == "bearer"
