"""Each Receiver type's verification, table-tested: what Flux accepts and refuses, and why."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Mapping, Sequence

import multidict
import pytest

from controllers.notification.receiver import signatures, verifying

TOKEN = b"s3cret-token"
SECRET = {"token": TOKEN}
BODY = json.dumps({"ref": "refs/heads/main"}).encode()
CDEVENT = json.dumps(
    {
        "context": {
            "id": "5555",
            "source": "github",
            "type": "dev.cdevents.change.merged.0.2.0",
            "timestamp": "2023-12-07T14:51:29.908479495Z",
            "version": "0.3.0",
        },
        "subject": {"id": "5555", "type": "change"},
    }
).encode()


def _sig(body: bytes, hash_name: str = "sha256", key: bytes = TOKEN) -> str:
    return signatures.sign(body, key, hash_name=hash_name)


JSON = {"Content-Type": "application/json"}


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    type_: str
    headers: Mapping[str, str]
    body: bytes = b""
    events: Sequence[str] = ()
    secret: Mapping[str, bytes] = dataclasses.field(default_factory=lambda: SECRET)
    refused: str | None = None
    """A part of the refusal message; None when the request is accepted."""
    event: str | None = None


CASES = [
    # github: X-Hub-Signature-256, else the legacy sha1 X-Hub-Signature; events filtered.
    Case("github sha256", "github", {**JSON, "X-Hub-Signature-256": _sig(BODY),
         "X-GitHub-Event": "push"}, BODY, event="push"),
    Case("github legacy sha1", "github", {**JSON, "X-Hub-Signature": _sig(BODY, "sha1"),
         "X-GitHub-Event": "push"}, BODY, event="push"),
    Case("github sha512", "github", {**JSON, "X-Hub-Signature-256": _sig(BODY, "sha512")}, BODY),
    Case("github form-encoded payload", "github", {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Hub-Signature-256": _sig(b"payload=" + urllib.parse.quote(BODY).encode())},
        b"payload=" + urllib.parse.quote(BODY).encode()),
    Case("github wrong key", "github", {**JSON, "X-Hub-Signature-256": _sig(BODY, key=b"x")},
         BODY, refused="the GitHub signature header is invalid, err: payload signature check"),
    Case("github body changed", "github", {**JSON, "X-Hub-Signature-256": _sig(BODY)},
         BODY + b" ", refused="payload signature check failed"),
    Case("github unsigned", "github", JSON, BODY, refused="missing signature"),
    Case("github unknown hash", "github", {**JSON, "X-Hub-Signature-256": "md5=00"}, BODY,
         refused='unknown hash type prefix: "md5"'),
    Case("github no prefix", "github", {**JSON, "X-Hub-Signature-256": "abcdef"}, BODY,
         refused='error parsing signature "abcdef"'),
    Case("github not hex", "github", {**JSON, "X-Hub-Signature-256": "sha256=zz"}, BODY,
         refused='error decoding signature "sha256=zz"'),
    Case("github other content type", "github", {"Content-Type": "text/plain",
         "X-Hub-Signature-256": _sig(BODY)}, BODY,
         refused='unsupported Content-Type "text/plain"'),
    Case("github event filtered out", "github", {**JSON, "X-Hub-Signature-256": _sig(BODY),
         "X-GitHub-Event": "issues"}, BODY, events=("push",),
         refused='the GitHub event "issues" is not authorised'),
    Case("github event matched ignoring case", "github", {**JSON,
         "X-Hub-Signature-256": _sig(BODY), "X-GitHub-Event": "Push"}, BODY, events=("push",),
         event="Push"),
    # bitbucket (server and cloud): the same HMAC, X-Event-Key filtered.
    Case("bitbucket signed", "bitbucket", {**JSON, "X-Hub-Signature": _sig(BODY),
         "X-Event-Key": "repo:refs_changed"}, BODY, events=("repo:refs_changed",),
         event="repo:refs_changed"),
    Case("bitbucket bad signature", "bitbucket", {**JSON, "X-Hub-Signature": _sig(b"x")}, BODY,
         refused="the Bitbucket server signature header is invalid"),
    Case("bitbucket event filtered out", "bitbucket", {**JSON, "X-Hub-Signature": _sig(BODY),
         "X-Event-Key": "pr:opened"}, BODY, events=("repo:refs_changed",),
         refused='the Bitbucket server event "pr:opened" is not authorised'),
    # gitlab: X-Gitlab-Token equals the token; X-Gitlab-Event filtered.
    Case("gitlab token", "gitlab", {"X-Gitlab-Token": TOKEN.decode(),
         "X-Gitlab-Event": "Push Hook"}, events=("push hook",), event="Push Hook"),
    Case("gitlab wrong token", "gitlab", {"X-Gitlab-Token": "nope"},
         refused="the X-Gitlab-Token header value does not match the receiver token"),
    Case("gitlab no token", "gitlab", {}, refused="does not match the receiver token"),
    Case("gitlab event filtered out", "gitlab", {"X-Gitlab-Token": TOKEN.decode(),
         "X-Gitlab-Event": "Issue Hook"}, events=("Push Hook",),
         refused='the GitLab event "Issue Hook" is not authorised'),
    # generic: the secret path is the only check.
    Case("generic", "generic", {}, b"anything"),
    # generic-hmac: X-Signature with sha1, sha256 or sha512.
    Case("generic-hmac sha1", "generic-hmac", {"X-Signature": _sig(BODY, "sha1")}, BODY),
    Case("generic-hmac sha256", "generic-hmac", {"X-Signature": _sig(BODY)}, BODY),
    Case("generic-hmac sha512", "generic-hmac", {"X-Signature": _sig(BODY, "sha512")}, BODY),
    Case("generic-hmac wrong", "generic-hmac", {"X-Signature": _sig(BODY, key=b"k")}, BODY,
         refused="unable to validate HMAC signature: payload signature check failed"),
    Case("generic-hmac unsigned", "generic-hmac", {}, BODY,
         refused="unable to validate HMAC signature: missing signature"),
    # harbor: Authorization equals the token.
    Case("harbor", "harbor", {"Authorization": TOKEN.decode()}),
    Case("harbor wrong", "harbor", {"Authorization": "Bearer " + TOKEN.decode()},
         refused="the Harbor Authorization header value does not match the receiver token"),
    # nexus: hex HMAC-SHA1 of the body, and a JSON body.
    Case("nexus", "nexus", {"X-Nexus-Webhook-Signature":
         hmac.new(TOKEN, BODY, hashlib.sha1).hexdigest()}, BODY),
    Case("nexus missing", "nexus", {}, BODY,
         refused="the Nexus signature is missing from header"),
    Case("nexus wrong", "nexus", {"X-Nexus-Webhook-Signature": "00" * 20}, BODY,
         refused="invalid Nexus signature"),
    Case("nexus signed non-JSON", "nexus", {"X-Nexus-Webhook-Signature":
         hmac.new(TOKEN, b"[1]", hashlib.sha1).hexdigest()}, b"[1]",
         refused="cannot decode Nexus webhook payload"),
    # quay, dockerhub, acr: the body must decode as the sender's JSON.
    Case("quay", "quay", {}, b'{"docker_url": "quay.io/a/b", "updated_tags": ["v1"]}'),
    Case("quay not JSON", "quay", {}, b"<xml/>", refused="cannot decode Quay webhook payload"),
    Case("quay wrong field type", "quay", {}, b'{"updated_tags": "v1"}',
         refused="cannot decode Quay webhook payload"),
    Case("dockerhub", "dockerhub", {}, b'{"push_data": {"tag": "v1"}, "repository": {}}'),
    Case("dockerhub empty", "dockerhub", {}, b"", refused="cannot decode DockerHub webhook"),
    Case("acr", "acr", {}, b'{"action": "push", "target": {"repository": "a", "tag": "v1"}}'),
    Case("acr not an object", "acr", {}, b'"push"', refused="cannot decode ACR webhook payload"),
    # cdevents: a valid CDEvent, Ce-Type filtered.
    Case("cdevents", "cdevents", {"Ce-Type": "cd.change.merged.v1"}, CDEVENT,
         events=("cd.change.merged.v1",), event="cd.change.merged.v1"),
    Case("cdevents filtered out", "cdevents", {"Ce-Type": "cd.change.merged.v1"}, CDEVENT,
         events=("cd.environment.modified.v1",),
         refused='the CDEvent "cd.change.merged.v1" is not authorised'),
    Case("cdevents invalid", "cdevents", {"Ce-Type": "x"}, b'{"context": {}}',
         refused="unable to validate CDEvent event: context.id is required"),
    # gcr: the secret's email and audience, then the Pub/Sub push (the token is the server's).
    Case("gcr without email", "gcr", {"Authorization": "Bearer x"}, b"{}",
         refused="required field 'email' for GCR receiver"),
    Case("gcr without audience", "gcr", {"Authorization": "Bearer x"}, b"{}",
         secret={"token": TOKEN, "email": b"a@b"},
         refused="required field 'audience' for GCR receiver"),
    Case("gcr not a push", "gcr", {"Authorization": "Bearer x"}, b"[]",
         secret={"token": TOKEN, "email": b"a@b", "audience": b"aud"},
         refused="cannot decode GCR webhook payload"),
    Case("gcr data not an event", "gcr", {"Authorization": "Bearer x"},
         b'{"message": {"data": "bm90IGpzb24="}}',
         secret={"token": TOKEN, "email": b"a@b", "audience": b"aud"},
         refused="cannot decode GCR webhook body"),
    Case("unknown type", "svn", {}, refused='recevier type "svn" not supported'),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_verification(case: Case) -> None:
    request = verifying.Request(headers=multidict.CIMultiDict(case.headers), body=case.body)
    if case.refused is None:
        verified = verifying.verify(case.type_, request, secret=case.secret, events=case.events)
        assert (verified.event or None) == case.event
        assert not verified.ping
    else:
        with pytest.raises(verifying.RefusedError, match=case.refused.replace("(", r"\(")):
            verifying.verify(case.type_, request, secret=case.secret, events=case.events)


def test_a_signed_github_ping_is_answered_whatever_the_events() -> None:
    headers = {**JSON, "X-Hub-Signature-256": _sig(BODY), "X-GitHub-Event": "ping"}
    request = verifying.Request(headers=multidict.CIMultiDict(headers), body=BODY)
    verified = verifying.verify("github", request, secret=SECRET, events=("push",))
    assert verified.ping


def test_an_unsigned_github_ping_is_refused() -> None:
    headers = {**JSON, "X-GitHub-Event": "ping"}
    request = verifying.Request(headers=multidict.CIMultiDict(headers), body=BODY)
    with pytest.raises(verifying.RefusedError, match="missing signature"):
        verifying.verify("github", request, secret=SECRET)


@pytest.mark.parametrize(
    ("type_", "header", "value"),
    [
        ("github", "X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ("gitlab", "X-Gitlab-Event-UUID", "13792a34-cac6-4fda-95a8-c58e00a3954e"),
        ("bitbucket", "X-Request-UUID", "fe4d3e3a-3b67-4c3c-a17a-6a1d0c9b2b4d"),
    ],
)
def test_delivery_ids_are_reported_for_replay_checks(type_: str, header: str, value: str) -> None:
    headers = {**JSON, header: value, "X-Hub-Signature-256": _sig(BODY),
               "X-Gitlab-Token": TOKEN.decode()}  # fmt: skip
    request = verifying.Request(headers=multidict.CIMultiDict(headers), body=BODY)
    assert verifying.verify(type_, request, secret=SECRET).delivery == value


def test_a_gcr_push_is_unwrapped_and_names_the_identity_to_check() -> None:
    event = {"action": "INSERT", "digest": "gcr.io/p/app@sha256:ab", "tag": "gcr.io/p/app:v1"}
    data = base64.b64encode(json.dumps(event).encode()).decode()
    body = json.dumps({"message": {"data": data, "messageId": "1"}}).encode()
    request = verifying.Request(headers=multidict.CIMultiDict(JSON), body=body)
    secret = {"token": TOKEN, "email": b"push@p.iam.gserviceaccount.com", "audience": b"aud"}
    verified = verifying.verify("gcr", request, secret=secret)
    assert verified.google_identity == ("push@p.iam.gserviceaccount.com", "aud")
    assert json.loads(verified.payload or b"") == event
    assert verified.log_message == (
        "handling GCR event from gcr.io/p/app@sha256:ab for tag gcr.io/p/app:v1"
    )
