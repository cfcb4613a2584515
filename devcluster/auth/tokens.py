"""TokenRequest: ``POST …/serviceaccounts/<name>/token`` issues a service-account token.

What ``kubectl create token`` (and the kubelet, for projected tokens) calls.
Contract, after kube-apiserver's TokenREST:

- The body is an ``authentication.k8s.io/v1`` ``TokenRequest`` (JSON, YAML or
  protobuf). ``spec.expirationSeconds`` defaults to 3600 and must lie in
  [600, 2^32] (else 422 Invalid); empty ``spec.audiences`` become the
  server's audience, ``AUDIENCE``.
- The ServiceAccount must exist (404). A ``spec.boundObjectRef`` must name a
  ``v1`` Pod running as that ServiceAccount, a Secret, or a Node, that exists
  (404; another kind or a Pod of another ServiceAccount: 400); a given ``uid``
  must be the object's (409 Conflict).
- The answer, 201 Created, is the request (its metadata as sent) with the
  defaulted spec and ``status.token`` plus ``status.expirationTimestamp`` =
  issue time + ``expirationSeconds``.
- The token is a JWT whose claims are those Kubernetes puts in service-account
  tokens (``iss``, ``sub`` = ``system:serviceaccount:<ns>:<name>``, ``aud``,
  ``exp``, ``iat``, ``nbf``, ``jti``, ``kubernetes.io`` with the namespace,
  ServiceAccount and bound object), signed HS256 with a key the ``Issuer``
  draws when the server starts. ``Issuer.verify`` checks one. Nothing is
  stored. NB: the devcluster does not accept these tokens as credentials; its
  single bearer token stays the only one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from typing import Any

from aiohttp import web

from devcluster.endpoints import handlers, requests
from devcluster.machinery import errors
from devcluster.registry import cluster as cluster_mod

Obj = dict[str, Any]
GROUP = "authentication.k8s.io"
API_VERSION = f"{GROUP}/v1"
# What kube-apiserver uses for --service-account-issuer/--api-audiences by default
# in common distributions; clients only compare it with what they asked for.
AUDIENCE = "https://kubernetes.default.svc.cluster.local"
DEFAULT_EXPIRATION = 3600
MIN_EXPIRATION = 600
MAX_EXPIRATION = 1 << 32
_BINDABLE = {"Pod": "pods", "Secret": "secrets", "Node": "nodes"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _rfc3339(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class Issuer:
    """Signs service-account tokens with a key of its own (one per server run)."""

    def __init__(self, *, issuer: str = AUDIENCE, key: bytes | None = None) -> None:
        self.issuer = issuer
        self._key = key or secrets.token_bytes(32)
        self.key_id = _b64(hashlib.sha256(self._key).digest()[:16])

    def sign(self, claims: Obj) -> str:
        header = {"alg": "HS256", "kid": self.key_id, "typ": "JWT"}
        signing_input = ".".join(
            _b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        signature = hmac.new(self._key, signing_input.encode("ascii"), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(signature)}"

    def verify(self, token: str) -> Obj | None:
        """The claims of a token this issuer signed, ``None`` if the signature fails."""
        try:
            header, claims, signature = token.split(".")
            expected = hmac.new(
                self._key, f"{header}.{claims}".encode("ascii"), hashlib.sha256
            ).digest()
            if not hmac.compare_digest(expected, _unb64(signature)):
                return None
            decoded: Obj = json.loads(_unb64(claims))
        except (ValueError, UnicodeError):
            return None
        return decoded


def _validate(spec: Obj) -> int:
    """The expiration the spec asks for (defaulted), or 422 as kube-apiserver answers."""
    expiration = spec.get("expirationSeconds")
    if expiration is None:
        return DEFAULT_EXPIRATION
    if not isinstance(expiration, int) or isinstance(expiration, bool):
        raise errors.bad_request("spec.expirationSeconds must be an integer")
    message = ""
    if expiration < MIN_EXPIRATION:
        message = "may not specify a duration less than 10 minutes"
    elif expiration > MAX_EXPIRATION:
        message = "may not specify a duration larger than 2^32 seconds"
    if message:
        raise errors.invalid(
            GROUP,
            "TokenRequest",
            "",
            [
                (
                    "FieldValueInvalid",
                    "spec.expirationSeconds",
                    f"Invalid value: {expiration}: {message}",
                )
            ],
        )
    return expiration


def _bound_object(
    state: cluster_mod.Cluster, *, ref: Obj, namespace: str, service_account: str
) -> tuple[str, Obj]:
    """The (kind, object) a ``boundObjectRef`` names, checked as TokenREST checks it."""
    kind = str(ref.get("kind", ""))
    api_version = str(ref.get("apiVersion", ""))
    name = str(ref.get("name", ""))
    plural = _BINDABLE.get(kind)
    if plural is None or api_version != "v1":
        group_version = api_version if "/" in api_version else f"/{api_version}"
        raise errors.bad_request(
            f"cannot bind token to object of type {group_version}, Kind={kind}"
        )
    res = state.registry.lookup("", "v1", plural)
    if res is None:
        raise errors.internal(f"no {plural} resource")
    found = state.get(res, namespace, name)
    if kind == "Pod":
        runs_as = (found.get("spec") or {}).get("serviceAccountName") or "default"
        if runs_as != service_account:
            raise errors.bad_request(
                f"cannot bind token for serviceaccount {service_account!r} to pod running "
                "with different serviceaccount name."
            )
    uid = str(found["metadata"].get("uid", ""))
    wanted = ref.get("uid")
    if wanted and wanted != uid:
        raise errors.conflict(
            "",
            kind,
            name,
            f"the UID in the bound object reference ({wanted}) does not match the UID in "
            "record. The object might have been deleted and then recreated",
        )
    return kind, found


def issue(
    state: cluster_mod.Cluster,
    issuer: Issuer,
    *,
    namespace: str,
    service_account: str,
    body: Obj,
    now: int | None = None,
) -> Obj:
    """The answered TokenRequest for ``body`` (see the module contract)."""
    if not isinstance(body, dict):
        raise errors.bad_request("the request body is not an object")
    kind = body.get("kind")
    if kind not in (None, "TokenRequest") or body.get("apiVersion") not in (None, API_VERSION):
        raise errors.bad_request(
            f"the body is {body.get('apiVersion')}/{kind}; expected {API_VERSION}/TokenRequest"
        )
    spec = dict(body.get("spec") or {})
    expiration = _validate(spec)
    sa_res = state.registry.lookup("", "v1", "serviceaccounts")
    if sa_res is None:
        raise errors.internal("no serviceaccounts resource")
    account = state.get(sa_res, namespace, service_account)
    private: Obj = {
        "namespace": namespace,
        "serviceaccount": {"name": service_account, "uid": account["metadata"].get("uid", "")},
    }
    ref = spec.get("boundObjectRef")
    if ref:
        bound_kind, bound = _bound_object(
            state, ref=ref, namespace=namespace, service_account=service_account
        )
        private[bound_kind.lower()] = {
            "name": bound["metadata"]["name"],
            "uid": bound["metadata"].get("uid", ""),
        }
    audiences = list(spec.get("audiences") or [AUDIENCE])
    issued = int(time.time()) if now is None else now
    expires = issued + expiration
    claims: Obj = {
        "aud": audiences,
        "exp": expires,
        "iat": issued,
        "iss": issuer.issuer,
        "jti": str(uuid.uuid4()),
        "kubernetes.io": private,
        "nbf": issued,
        "sub": f"system:serviceaccount:{namespace}:{service_account}",
    }
    return {
        "kind": "TokenRequest",
        "apiVersion": API_VERSION,
        "metadata": body.get("metadata") or {},
        "spec": {**spec, "audiences": audiences, "expirationSeconds": expiration},
        "status": {"token": issuer.sign(claims), "expirationTimestamp": _rfc3339(expires)},
    }


async def create(
    request: web.Request, state: cluster_mod.Cluster, target: requests.Target, issuer: Issuer
) -> web.Response:
    """HTTP: ``POST`` to the ``token`` subresource of a ServiceAccount."""
    if request.method != "POST":
        raise errors.method_not_allowed()
    assert target.name is not None
    opts = handlers.write_options(request)
    body = await handlers.read_body(request, opts)
    answer = issue(
        state,
        issuer,
        namespace=target.namespace or "",
        service_account=target.name,
        body=body,
    )
    return handlers.reply(answer, status=201, warnings=opts.warnings)
