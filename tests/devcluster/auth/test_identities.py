"""Who a request is served as: the devcluster's admin, or whom its headers impersonate."""

from __future__ import annotations

import pytest

from devcluster.auth import identities

UserInfo = identities.UserInfo


@pytest.mark.parametrize(
    ("headers", "want"),
    [
        ([], identities.ADMIN),
        ([("Accept", "application/json")], identities.ADMIN),
        (
            [("Impersonate-User", "jane")],
            UserInfo("jane", ("system:authenticated",)),
        ),
        (
            [
                ("impersonate-user", "jane"),
                ("Impersonate-Group", "devs"),
                ("Impersonate-Group", "ops"),
            ],
            UserInfo("jane", ("devs", "ops", "system:authenticated")),
        ),
        (
            [("Impersonate-User", "jane"), ("Impersonate-Group", "system:authenticated")],
            UserInfo("jane", ("system:authenticated",)),
        ),
        (
            [("Impersonate-User", "jane"), ("Impersonate-Group", "system:unauthenticated")],
            UserInfo("jane", ("system:unauthenticated",)),
        ),
        (
            [("Impersonate-User", "system:anonymous")],
            UserInfo("system:anonymous", ("system:unauthenticated",)),
        ),
        (
            [("Impersonate-User", "system:serviceaccount:ns:robot")],
            UserInfo(
                "system:serviceaccount:ns:robot",
                ("system:serviceaccounts", "system:serviceaccounts:ns", "system:authenticated"),
            ),
        ),
        (
            # Groups asked for replace the service account's own.
            [("Impersonate-User", "system:serviceaccount:ns:robot"), ("Impersonate-Group", "x")],
            UserInfo("system:serviceaccount:ns:robot", ("x", "system:authenticated")),
        ),
        (
            # Not a valid namespace: an ordinary user name.
            [("Impersonate-User", "system:serviceaccount:Bad_NS:robot")],
            UserInfo("system:serviceaccount:Bad_NS:robot", ("system:authenticated",)),
        ),
        (
            [
                ("Impersonate-User", "jane"),
                ("Impersonate-Uid", "u-1"),
                ("Impersonate-Extra-Scopes", "view"),
                ("Impersonate-Extra-scopes", "edit"),
                ("Impersonate-Extra-Example.com%2fteam", "blue"),
            ],
            UserInfo(
                "jane",
                ("system:authenticated",),
                uid="u-1",
                extra=(("scopes", ("view", "edit")), ("example.com/team", ("blue",))),
            ),
        ),
    ],
    ids=[
        "no-headers",
        "unrelated-headers",
        "user",
        "user-and-groups",
        "authenticated-not-repeated",
        "unauthenticated-kept-alone",
        "anonymous",
        "service-account",
        "service-account-with-groups",
        "invalid-service-account",
        "uid-and-extra",
    ],
)
def test_requester(headers: list[tuple[str, str]], want: identities.UserInfo) -> None:
    assert identities.requester(headers) == want


def test_group_without_user_is_refused_as_the_filter_words_it() -> None:
    with pytest.raises(identities.ImpersonationError) as caught:
        identities.requester([("Impersonate-Group", "devs"), ("Impersonate-Uid", "u")])

    assert str(caught.value) == (
        "requested [{Group  devs    } {UID  u  authentication.k8s.io/v1  }] "
        "without impersonating a user"
    )


def test_extra_without_user_is_refused() -> None:
    with pytest.raises(identities.ImpersonationError, match="UserExtra  v  authentication"):
        identities.requester([("Impersonate-Extra-k", "v")])


def test_user_info_json_omits_empty_fields() -> None:
    assert identities.ADMIN.as_json() == {
        "username": "kubernetes-admin",
        "groups": ["system:masters", "system:authenticated"],
    }
    full = UserInfo("u", ("g",), uid="1", extra=(("k", ("a", "b")),))
    assert full.as_json() == {
        "username": "u",
        "uid": "1",
        "groups": ["g"],
        "extra": {"k": ["a", "b"]},
    }
