"""``kubectl create token``: the TokenRequest subresource of ServiceAccounts.

kubectl sends a protobuf TokenRequest to ``serviceaccounts/<name>/token`` and
prints ``status.token``; the tests read the JWT's claims back and check the
refusals kube-apiserver gives.
"""

from __future__ import annotations

import base64
import calendar
import json
import time
from typing import Any

import pytest
import yaml

from tests.fixtures import devcluster as fixtures

Devcluster = fixtures.Devcluster


def _get(devcluster: Devcluster, *what: str, namespace: str) -> dict[str, Any]:
    out = devcluster.kubectl("get", "-n", namespace, *what, "-o", "json").stdout
    result: dict[str, Any] = json.loads(out)
    return result


def _create(devcluster: Devcluster, namespace: str, *args: str) -> str:
    return devcluster.kubectl("create", "-n", namespace, *args).stdout


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    result: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return result


def test_create_token(devcluster: Devcluster, namespace: str) -> None:
    _create(devcluster, namespace, "serviceaccount", "robot")
    before = int(time.time())

    token = _create(devcluster, namespace, "token", "robot").strip()

    claims = _claims(token)
    assert claims["sub"] == f"system:serviceaccount:{namespace}:robot"
    assert claims["exp"] - claims["iat"] == 3600
    assert before <= claims["iat"] <= int(time.time())
    account = _get(devcluster, "serviceaccount", "robot", namespace=namespace)
    assert claims["kubernetes.io"]["serviceaccount"] == {
        "name": "robot",
        "uid": account["metadata"]["uid"],
    }


def test_create_token_with_duration_audience_and_bound_secret(
    devcluster: Devcluster, namespace: str
) -> None:
    _create(devcluster, namespace, "serviceaccount", "robot")
    _create(devcluster, namespace, "secret", "generic", "key", "--from-literal=a=b")
    uid = _get(devcluster, "secret", "key", namespace=namespace)["metadata"]["uid"]

    out = _create(
        devcluster,
        namespace,
        "token",
        "robot",
        "--duration=20m",
        "--audience=vault",
        "--bound-object-kind=Secret",
        "--bound-object-name=key",
        "-o",
        "yaml",
    )

    answer = yaml.safe_load(out)
    assert answer["spec"]["expirationSeconds"] == 1200
    assert answer["spec"]["audiences"] == ["vault"]
    claims = _claims(answer["status"]["token"])
    assert claims["aud"] == ["vault"]
    assert claims["kubernetes.io"]["secret"] == {"name": "key", "uid": uid}
    expires = time.strptime(answer["status"]["expirationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
    assert calendar.timegm(expires) == claims["exp"]
    assert claims["exp"] - claims["iat"] == 1200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("robot", "--duration=5m"), "may not specify a duration less than 10 minutes"),
        (("nobody",), 'serviceaccounts "nobody" not found'),
        (
            ("robot", "--bound-object-kind=Secret", "--bound-object-name=none"),
            'secrets "none" not found',
        ),
        (
            ("robot", "--bound-object-kind=Pod", "--bound-object-name=none"),
            'pods "none" not found',
        ),
    ],
    ids=["too-short", "no-serviceaccount", "no-secret", "no-pod"],
)
def test_create_token_refusals(
    devcluster: Devcluster, namespace: str, args: tuple[str, ...], message: str
) -> None:
    _create(devcluster, namespace, "serviceaccount", "robot")

    result = devcluster.kubectl("create", "token", "-n", namespace, *args, check=False)

    assert result.returncode != 0
    assert message in result.stderr


def test_token_bound_to_a_recreated_secret_is_a_conflict(
    devcluster: Devcluster, namespace: str
) -> None:
    _create(devcluster, namespace, "serviceaccount", "robot")
    _create(devcluster, namespace, "secret", "generic", "key", "--from-literal=a=b")

    result = devcluster.kubectl(
        "create",
        "token",
        "robot",
        "-n",
        namespace,
        "--bound-object-kind=Secret",
        "--bound-object-name=key",
        "--bound-object-uid=00000000-0000-0000-0000-000000000000",
        check=False,
    )

    assert result.returncode != 0
    assert "does not match the UID in record" in result.stderr
