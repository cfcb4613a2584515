"""Access, rules and identity reviews: create-only kinds answered, never stored.

What ``kubectl auth can-i`` (SelfSubjectAccessReview; ``--list``:
SelfSubjectRulesReview) and ``kubectl auth whoami`` (SelfSubjectReview) ask,
and what webhooks and controllers ask on behalf of others (SubjectAccessReview,
LocalSubjectAccessReview). Contract, after kube-apiserver's REST storages of
these kinds:

- Only ``POST`` to the collection (JSON, YAML or protobuf body): other methods
  and a name in the path are 405 MethodNotAllowed; LocalSubjectAccessReview
  exists only under ``namespaces/<ns>/`` (elsewhere 404). Nothing is stored,
  so nothing can be read, listed or watched back. The answer is 201 Created.
- The devcluster enforces no authorization, so it answers truthfully that
  everything is allowed: every access review gets ``allowed: true`` with
  ``REASON``, whoever the subject; the rules review lists one resource rule
  and one non-resource rule, each ``*`` for everything, ``incomplete: false``.
  An access review is answered as sent, plus its status; a rules review has
  only its status (its spec is not echoed, as in the API server).
- The SelfSubjectReview reports the requester (``identities``): the fixed
  ``identities.ADMIN`` or whom the request impersonates.
- Bad input gets the API server's errors: a body of the wrong kind or
  namespace is 400; field types and unknown fields are checked against the
  kind's schema (``fieldValidation``); then 422 Invalid (kind left empty in
  the message, ``.authorization.k8s.io "" is invalid``, as the REST storage
  words it) unless exactly one of ``spec.resourceAttributes`` and
  ``spec.nonResourceAttributes`` is set, for a (Local)SubjectAccessReview
  when neither ``spec.user`` nor ``spec.groups`` is, when ``metadata`` is not
  empty (but for a LocalSubjectAccessReview's namespace), for a
  LocalSubjectAccessReview whose ``spec.resourceAttributes.namespace``
  differs from its namespace or that has ``nonResourceAttributes``, and for
  malformed field and label selector attributes (the label keys themselves
  are not checked). A rules review without ``spec.namespace`` is 400.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from devcluster.auth import identities
from devcluster.endpoints import handlers, requests
from devcluster.machinery import errors, objects
from devcluster.registry import strategies
from devcluster.schemas import resources, validation

Obj = dict[str, Any]
Cause = tuple[str, str, str]
AUTHORIZATION = "authorization.k8s.io"
REASON = "the devcluster enforces no authorization: every request is allowed"
_UNION = "exactly one of nonResourceAttributes or resourceAttributes must be specified"
_WITH_VALUES = ("In", "NotIn")
_WITHOUT_VALUES = ("Exists", "DoesNotExist")


def _rendered(value: Any) -> str:
    """A bad value as a field error prints it: JSON (``null``, quoted strings, objects)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    # Go's encoder escapes these three for safe embedding in HTML.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _invalid(field: str, value: Any, detail: str) -> Cause:
    return ("FieldValueInvalid", field, f"Invalid value: {_rendered(value)}: {detail}")


def _present(value: Any) -> bool:
    """Whether a pointer field was sent: JSON ``null`` is the same as absent."""
    return value is not None


def _non_resource(attributes: Any) -> Any:
    """NonResourceAttributes as Go marshals them: declared order, empty strings omitted."""
    if not isinstance(attributes, dict):
        return attributes
    return {key: attributes[key] for key in ("path", "verb") if attributes.get(key)}


def _selector_causes(selector: Any, field: str, *, label: bool) -> list[Cause]:
    if not isinstance(selector, dict):
        return []
    raw = selector.get("rawSelector") or ""
    requirements = selector.get("requirements") or []
    causes: list[Cause] = []
    if raw and requirements:
        causes.append(
            _invalid(
                f"{field}.rawSelector", raw, "may not specified at the same time as requirements"
            )
        )
    if not raw and not requirements:
        causes.append(
            (
                "FieldValueRequired",
                f"{field}.requirements",
                f"Required value: when {field} is specified, requirements or rawSelector is "
                "required",
            )
        )
    for index, requirement in enumerate(requirements):
        if not isinstance(requirement, dict):
            continue
        where = f"{field}.requirements[{index}]"
        if not label and not requirement.get("key"):
            causes.append(
                ("FieldValueRequired", f"{where}.key", "Required value: must be specified")
            )
        operator, values = requirement.get("operator"), requirement.get("values") or []
        # NB: unknown operators pass (AllowUnknownOperatorInRequirement): newer
        # clients may know operators this server does not.
        if operator in _WITH_VALUES and not values:
            causes.append(
                (
                    "FieldValueRequired",
                    f"{where}.values",
                    "Required value: must be specified when `operator` is 'In' or 'NotIn'",
                )
            )
        elif operator in _WITHOUT_VALUES and values:
            causes.append(
                (
                    "FieldValueForbidden",
                    f"{where}.values",
                    "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                )
            )
    return causes


def _spec_causes(spec: Obj, *, subject: bool) -> list[Cause]:
    """ValidateSubjectAccessReviewSpec (``subject``) or ValidateSelfSubjectAccessReviewSpec."""
    resource = spec.get("resourceAttributes")
    non_resource = spec.get("nonResourceAttributes")
    causes: list[Cause] = []
    if _present(resource) == _present(non_resource):
        causes.append(_invalid("spec", _non_resource(non_resource), _UNION))
    if subject and not spec.get("user") and not spec.get("groups"):
        causes.append(
            _invalid(
                "spec.user",
                spec.get("user") or "",
                "at least one of user or group must be specified",
            )
        )
    if isinstance(resource, dict):
        base = "spec.resourceAttributes"
        causes.extend(
            _selector_causes(resource.get("fieldSelector"), f"{base}.fieldSelector", label=False)
        )
        causes.extend(
            _selector_causes(resource.get("labelSelector"), f"{base}.labelSelector", label=True)
        )
    return causes


def _meta_causes(metadata: Obj, *, keep: tuple[str, ...] = ()) -> list[Cause]:
    """``metadata`` must be empty (managed fields and ``keep`` aside)."""
    rest = {
        key: value
        for key, value in metadata.items()
        if value not in (None, "", {}, []) and key != "managedFields" and key not in keep
    }
    if not rest:
        return []
    detail = "must be empty except for namespace" if keep else "must be empty"
    return [_invalid("metadata", metadata, detail)]


def _access_review(res: resources.Resource, body: Obj) -> Obj:
    spec = body.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    metadata: Obj = body.get("metadata") or {}
    subject = res.kind != "SelfSubjectAccessReview"
    causes = _spec_causes(spec, subject=subject)
    if res.kind == "LocalSubjectAccessReview":
        namespace = metadata.get("namespace", "")
        causes.extend(_meta_causes(metadata, keep=("namespace",)))
        resource = spec.get("resourceAttributes")
        if isinstance(resource, dict) and (resource.get("namespace") or "") != namespace:
            causes.append(
                _invalid(
                    "spec.resourceAttributes.namespace",
                    resource.get("namespace") or "",
                    "must match metadata.namespace",
                )
            )
        non_resource = spec.get("nonResourceAttributes")
        if _present(non_resource):
            causes.append(
                _invalid(
                    "spec.nonResourceAttributes",
                    _non_resource(non_resource),
                    "disallowed on this kind of request",
                )
            )
    else:
        causes.extend(_meta_causes(metadata))
    if causes:
        # NB: the REST storage names the kind of the decoded (internal) object,
        # whose kind is empty: hence ``.authorization.k8s.io "" is invalid``.
        raise errors.invalid(AUTHORIZATION, "", "", causes)
    return {**body, "status": {"allowed": True, "reason": REASON}}


def _rules_review(res: resources.Resource, body: Obj) -> Obj:
    spec = body.get("spec")
    if not isinstance(spec, dict) or not spec.get("namespace"):
        raise errors.bad_request("no namespace on request")
    return {
        "kind": res.kind,
        "apiVersion": res.group_version,
        "metadata": {},
        "spec": {},
        "status": {
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": False,
        },
    }


def _self_subject_review(res: resources.Resource, user: identities.UserInfo) -> Obj:
    return {
        "kind": res.kind,
        "apiVersion": res.group_version,
        "metadata": {"creationTimestamp": objects.timestamp()},
        "status": {"userInfo": user.as_json()},
    }


def answer(
    res: resources.Resource,
    body: Any,
    *,
    namespace: str,
    user: identities.UserInfo,
    field_validation: str = "Warn",
    warnings: list[str] | None = None,
) -> Obj:
    """The answered review ``body`` (posted in ``namespace``) asks for; see the contract."""
    checked = strategies.check_body(res, body, namespace)
    checked = validation.check_builtin(
        res,
        checked,
        field_validation=field_validation,
        warnings=[] if warnings is None else warnings,
    )
    if res.kind == "SelfSubjectReview":
        return _self_subject_review(res, user)
    if res.kind == "SelfSubjectRulesReview":
        return _rules_review(res, checked)
    return _access_review(res, checked)


async def create(request: web.Request, target: requests.Target) -> web.StreamResponse:
    """HTTP: any request to a review resource (only a ``POST`` to the collection is served)."""
    if target.resource.namespaced and target.namespace is None:
        raise errors.no_resource(request.path)
    if request.method != "POST" or target.name is not None or target.subresource:
        raise errors.method_not_allowed()
    try:
        # The impersonation filter runs before the body is even read.
        user = identities.requester(request.headers.items())
    except identities.ImpersonationError as error:
        # NB: the filter answers with http.Error: plain text, no Status object.
        return web.Response(
            status=500,
            text=f"Internal Server Error: {_rendered(request.raw_path)}: {error}\n",
        )
    opts = handlers.write_options(request)
    body = await handlers.read_body(request, opts)
    answered = answer(
        target.resource,
        body,
        namespace=target.namespace or "",
        user=user,
        field_validation=opts.field_validation,
        warnings=opts.warnings,
    )
    return handlers.reply(answered, status=201, warnings=opts.warnings)
