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
- In the default allow-all mode the devcluster enforces no authorization,
  so it answers truthfully that everything is allowed: every access review
  gets ``allowed: true`` with ``REASON``, whoever the subject; the rules
  review lists one resource rule and one non-resource rule, each ``*`` for
  everything, ``incomplete: false``. Under RBAC (an ``authorizer`` given) the
  answers are the authorizer's: an access review is decided for its subject
  (the requester for the self reviews; ``spec.user``/``groups``/``uid``/
  ``extra`` otherwise) with the decision's reason, ``allowed: false`` when
  refused; the rules review lists the rules bound to the requester in the
  namespace, ``incomplete`` with ``evaluationError`` when a bound role is
  missing.
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

from devcluster.auth import authorizing, identities, rbac
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


def _subject(
    spec: Obj, requester: identities.UserInfo, *, self_review: bool
) -> identities.UserInfo:
    if self_review:
        return requester
    extra = spec.get("extra") or {}
    return identities.UserInfo(
        username=str(spec.get("user") or ""),
        groups=tuple(spec.get("groups") or ()),
        uid=str(spec.get("uid") or ""),
        extra=tuple((str(key), tuple(values or ())) for key, values in extra.items()),
    )


def _attributes(spec: Obj, user: identities.UserInfo) -> rbac.Attributes:
    resource = spec.get("resourceAttributes")
    if isinstance(resource, dict):
        return rbac.Attributes(
            user=user,
            verb=str(resource.get("verb") or ""),
            namespace=str(resource.get("namespace") or ""),
            group=str(resource.get("group") or ""),
            resource=str(resource.get("resource") or ""),
            subresource=str(resource.get("subresource") or ""),
            name=str(resource.get("name") or ""),
        )
    other = spec.get("nonResourceAttributes") or {}
    return rbac.Attributes(
        user=user,
        verb=str(other.get("verb") or ""),
        resource_request=False,
        path=str(other.get("path") or ""),
    )


def _decided(decision: rbac.Decision) -> Obj:
    status: Obj = {"allowed": decision.allowed}
    if decision.reason:
        status["reason"] = decision.reason
    return status


def _access_review(
    res: resources.Resource,
    body: Obj,
    *,
    user: identities.UserInfo,
    authorizer: rbac.Authorizer | None,
) -> Obj:
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
    if authorizer is None:
        return {**body, "status": {"allowed": True, "reason": REASON}}
    asking = _subject(spec, user, self_review=not subject)
    return {**body, "status": _decided(authorizer.authorize(_attributes(spec, asking)))}


def _rules_status(rules: list[Obj], failure: str) -> Obj:
    """SubjectRulesReviewStatus of PolicyRules, as the RBAC rule resolver lists them."""
    resource_rules: list[Obj] = []
    non_resource_rules: list[Obj] = []
    for rule in rules:
        if rule.get("resources"):
            entry: Obj = {"verbs": list(rule.get("verbs") or [])}
            for key in ("apiGroups", "resources", "resourceNames"):
                if rule.get(key):
                    entry[key] = list(rule[key])
            resource_rules.append(entry)
        if rule.get("nonResourceURLs"):
            non_resource_rules.append(
                {"verbs": list(rule.get("verbs") or []), "nonResourceURLs": rule["nonResourceURLs"]}
            )
    status: Obj = {
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": bool(failure),
    }
    if failure:
        status["evaluationError"] = failure
    return status


def _rules_review(
    res: resources.Resource,
    body: Obj,
    *,
    user: identities.UserInfo,
    authorizer: rbac.Authorizer | None,
) -> Obj:
    spec = body.get("spec")
    if not isinstance(spec, dict) or not spec.get("namespace"):
        raise errors.bad_request("no namespace on request")
    if authorizer is None:
        status: Obj = {
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": False,
        }
    else:
        status = _rules_status(*authorizer.rules_for(user, str(spec["namespace"])))
    return {
        "kind": res.kind,
        "apiVersion": res.group_version,
        "metadata": {},
        "spec": {},
        "status": status,
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
    authorizer: rbac.Authorizer | None = None,
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
        return _rules_review(res, checked, user=user, authorizer=authorizer)
    return _access_review(res, checked, user=user, authorizer=authorizer)


async def create(
    request: web.Request, target: requests.Target, *, gate: authorizing.Gate | None = None
) -> web.StreamResponse:
    """HTTP: any request to a review resource (only a ``POST`` to the collection is served)."""
    if target.resource.namespaced and target.namespace is None:
        raise errors.no_resource(request.path)
    if request.method != "POST" or target.name is not None or target.subresource:
        raise errors.method_not_allowed()
    if gate is not None:
        # Authenticated, impersonation authorized: the gate ran first.
        user: identities.UserInfo = request[authorizing.USER]
    else:
        try:
            # The impersonation filter runs before the body is even read.
            user = identities.requester(request.headers.items())
        except identities.ImpersonationError as error:
            return authorizing.impersonation_failure(request, error)
    opts = handlers.write_options(request)
    body = await handlers.read_body(request, opts)
    answered = answer(
        target.resource,
        body,
        namespace=target.namespace or "",
        user=user,
        field_validation=opts.field_validation,
        warnings=opts.warnings,
        authorizer=gate.authorizer if gate is not None else None,
    )
    return handlers.reply(answered, status=201, warnings=opts.warnings)
