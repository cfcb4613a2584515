"""Message tables of the review kinds ``kubectl auth`` sends, for ``protobuf``.

``kubectl auth can-i`` posts a SelfSubjectAccessReview (``--list``: a
SelfSubjectRulesReview) and ``kubectl auth whoami`` a SelfSubjectReview, as
protobuf; client-go users post SubjectAccessReviews and
LocalSubjectAccessReviews the same way. Field numbers are those of the
Kubernetes ``generated.proto`` files of k8s.io/api authorization/v1 (the four
access and rules reviews with their specs, ResourceAttributes with its field
and label selector attributes, NonResourceAttributes, the statuses and rules)
and authentication/v1 (SelfSubjectReview, UserInfo), plus meta/v1
FieldSelectorRequirement. ``keep_empty`` follows the Go types: pointers and
fields without ``omitempty`` (``spec``, ``allowed``, ``incomplete``, ``verbs``);
a status or user-info struct is never omitted by Go's JSON either. Statuses
are tabled although the server overwrites them, so a client that sends back a
review it received is read, not refused. Pure data, no I/O.
"""

from __future__ import annotations

from devcluster.serializers import protomessages

Field = protomessages.Field
Kind = protomessages.Kind
_META = Field("metadata", Kind.MESSAGE, message="ObjectMeta", keep_empty=True)
_ACCESS_STATUS = Field("status", Kind.MESSAGE, message="SubjectAccessReviewStatus", keep_empty=True)
_SUBJECT_SPEC = Field("spec", Kind.MESSAGE, message="SubjectAccessReviewSpec", keep_empty=True)

MESSAGES: dict[str, protomessages.Message] = {
    # authorization.k8s.io/v1
    "SelfSubjectAccessReview": {
        1: _META,
        2: Field("spec", Kind.MESSAGE, message="SelfSubjectAccessReviewSpec", keep_empty=True),
        3: _ACCESS_STATUS,
    },
    "SelfSubjectAccessReviewSpec": {
        1: Field("resourceAttributes", Kind.MESSAGE, message="ResourceAttributes", keep_empty=True),
        2: Field(
            "nonResourceAttributes", Kind.MESSAGE, message="NonResourceAttributes", keep_empty=True
        ),
    },
    "SubjectAccessReview": {1: _META, 2: _SUBJECT_SPEC, 3: _ACCESS_STATUS},
    "LocalSubjectAccessReview": {1: _META, 2: _SUBJECT_SPEC, 3: _ACCESS_STATUS},
    "SubjectAccessReviewSpec": {
        1: Field("resourceAttributes", Kind.MESSAGE, message="ResourceAttributes", keep_empty=True),
        2: Field(
            "nonResourceAttributes", Kind.MESSAGE, message="NonResourceAttributes", keep_empty=True
        ),
        3: Field("user", Kind.STRING),
        4: Field("groups", Kind.STRING, repeated=True),
        5: Field("extra", Kind.MAP_STRINGS),
        6: Field("uid", Kind.STRING),
    },
    "ResourceAttributes": {
        1: Field("namespace", Kind.STRING),
        2: Field("verb", Kind.STRING),
        3: Field("group", Kind.STRING),
        4: Field("version", Kind.STRING),
        5: Field("resource", Kind.STRING),
        6: Field("subresource", Kind.STRING),
        7: Field("name", Kind.STRING),
        8: Field("fieldSelector", Kind.MESSAGE, message="FieldSelectorAttributes", keep_empty=True),
        9: Field("labelSelector", Kind.MESSAGE, message="LabelSelectorAttributes", keep_empty=True),
    },
    "FieldSelectorAttributes": {
        1: Field("rawSelector", Kind.STRING),
        2: Field("requirements", Kind.MESSAGE, repeated=True, message="FieldSelectorRequirement"),
    },
    "LabelSelectorAttributes": {
        1: Field("rawSelector", Kind.STRING),
        2: Field("requirements", Kind.MESSAGE, repeated=True, message="LabelSelectorRequirement"),
    },
    # meta/v1, same shape as LabelSelectorRequirement
    "FieldSelectorRequirement": {
        1: Field("key", Kind.STRING, keep_empty=True),
        2: Field("operator", Kind.STRING, keep_empty=True),
        3: Field("values", Kind.STRING, repeated=True),
    },
    "NonResourceAttributes": {
        1: Field("path", Kind.STRING),
        2: Field("verb", Kind.STRING),
    },
    "SubjectAccessReviewStatus": {
        1: Field("allowed", Kind.BOOL, keep_empty=True),
        2: Field("reason", Kind.STRING),
        3: Field("evaluationError", Kind.STRING),
        4: Field("denied", Kind.BOOL),
    },
    "SelfSubjectRulesReview": {
        1: _META,
        2: Field("spec", Kind.MESSAGE, message="SelfSubjectRulesReviewSpec", keep_empty=True),
        3: Field("status", Kind.MESSAGE, message="SubjectRulesReviewStatus", keep_empty=True),
    },
    "SelfSubjectRulesReviewSpec": {
        1: Field("namespace", Kind.STRING),
    },
    "SubjectRulesReviewStatus": {
        1: Field("resourceRules", Kind.MESSAGE, repeated=True, message="ResourceRule"),
        2: Field("nonResourceRules", Kind.MESSAGE, repeated=True, message="NonResourceRule"),
        3: Field("incomplete", Kind.BOOL, keep_empty=True),
        4: Field("evaluationError", Kind.STRING),
    },
    "ResourceRule": {
        1: Field("verbs", Kind.STRING, repeated=True),
        2: Field("apiGroups", Kind.STRING, repeated=True),
        3: Field("resources", Kind.STRING, repeated=True),
        4: Field("resourceNames", Kind.STRING, repeated=True),
    },
    "NonResourceRule": {
        1: Field("verbs", Kind.STRING, repeated=True),
        2: Field("nonResourceURLs", Kind.STRING, repeated=True),
    },
    # authentication.k8s.io/v1, the body of kubectl auth whoami
    "SelfSubjectReview": {
        1: _META,
        2: Field("status", Kind.MESSAGE, message="SelfSubjectReviewStatus", keep_empty=True),
    },
    "SelfSubjectReviewStatus": {
        1: Field("userInfo", Kind.MESSAGE, message="UserInfo", keep_empty=True),
    },
    "UserInfo": {
        1: Field("username", Kind.STRING),
        2: Field("uid", Kind.STRING),
        3: Field("groups", Kind.STRING, repeated=True),
        4: Field("extra", Kind.MAP_STRINGS),
    },
}

TOP_LEVEL: dict[tuple[str | None, str], str] = {
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): "SelfSubjectAccessReview",
    ("authorization.k8s.io/v1", "SubjectAccessReview"): "SubjectAccessReview",
    ("authorization.k8s.io/v1", "LocalSubjectAccessReview"): "LocalSubjectAccessReview",
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): "SelfSubjectRulesReview",
    ("authentication.k8s.io/v1", "SelfSubjectReview"): "SelfSubjectReview",
}
