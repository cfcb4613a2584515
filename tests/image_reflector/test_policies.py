"""The tag filter and the three policies, as table tests (Flux's policy test tables)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from controllers.image_reflector import imagerepository, policies
from shared.api import image


def _spec(policy: dict[str, Any], **filter_tags: str) -> image.ImagePolicySpec:
    body: dict[str, Any] = {"imageRepositoryRef": {"name": "repo"}, "policy": policy}
    if filter_tags:
        body["filterTags"] = filter_tags
    return image.ImagePolicySpec.model_validate(body)


def _shuffled(tags: list[str]) -> list[str]:
    copy = list(tags)
    random.Random(len(tags)).shuffle(copy)
    return copy


@pytest.mark.parametrize("range_", ["1.0.x", "^1.0", "=1.0.0", "~1.0", ">=1.0", ">0,<2.0"])
def test_valid_semver_ranges_compile(range_: str) -> None:
    policies.compile_policy(_spec({"semver": {"range": range_}}))


@pytest.mark.parametrize("range_", ["1.0.0p", "1x", "x1", "-1", "a", ""])
def test_invalid_semver_ranges_are_refused(range_: str) -> None:
    with pytest.raises(policies.InvalidPolicyError, match="invalid semver range"):
        policies.compile_policy(_spec({"semver": {"range": range_}}))


@pytest.mark.parametrize(
    ("range_", "tags", "expected"),
    [
        ("1.0.x", ["1.0.0", "1.0.0.1", "1.0.0p", "1.0.1", "1.2.0", "0.1.0"], "1.0.1"),
        ("1.0.x", ["v1.2.3", "v1.0.0", "v0.1.0"], "v1.0.0"),
        (">=1.0.0", ["1.0.0", "2.0.0-rc.1", "1.9.9"], "1.9.9"),
        (">=2.0.0-0", ["1.0.0", "2.0.0-rc.1", "2.0.0-rc.2"], "2.0.0-rc.2"),
    ],
    ids=["regular", "with-prefix", "prereleases-excluded", "prereleases-asked-for"],
)
def test_semver_elects_the_highest_version_in_range(
    range_: str, tags: list[str], expected: str
) -> None:
    assert policies.compile_policy(_spec({"semver": {"range": range_}})).latest(tags) == expected


@pytest.mark.parametrize(
    "tags",
    [["b1.2.3", "b1.0.0", "b0.1.0"], [], ["1.2.0"]],
    ids=["invalid-prefix", "empty", "none-in-range"],
)
def test_semver_without_a_candidate_fails(tags: list[str]) -> None:
    policy = policies.compile_policy(_spec({"semver": {"range": "1.0.x"}}))
    with pytest.raises(policies.NoTagError, match="unable to determine latest version"):
        policy.latest(tags)


ALPHABETICAL = [
    (["aaa", "bbb", "ccc", "ddd", "eee"], "eee", "aaa"),
    (["16.04", "16.04.1", "16.10", "20.04", "20.10"], "20.10", "16.04"),
    (["xenial", "yakkety", "zesty", "artful", "bionic"], "zesty", "artful"),
    (["1606234201", "1606364286", "1606334092", "1606334284", "1606334201"],
     "1606364286", "1606234201"),
    (["RELEASE.2019-01-26T02-35-07Z", "RELEASE.2021-02-22T19-31-20Z",
      "RELEASE.2020-12-01T08-14-34Z"], "RELEASE.2021-02-22T19-31-20Z",
     "RELEASE.2019-01-26T02-35-07Z"),
]  # fmt: skip


@pytest.mark.parametrize(("tags", "asc", "desc"), ALPHABETICAL)
def test_alphabetical_elects_last_ascending_first_descending(
    tags: list[str], asc: str, desc: str
) -> None:
    for order, expected in (("asc", asc), ("desc", desc)):
        policy = policies.compile_policy(_spec({"alphabetical": {"order": order}}))
        assert policy.latest(_shuffled(tags)) == expected


def test_alphabetical_order_defaults_to_ascending_and_refuses_an_empty_list() -> None:
    policy = policies.compile_policy(_spec({"alphabetical": {}}))
    assert policy.latest(["a", "c", "b"]) == "c"
    with pytest.raises(policies.NoTagError):
        policy.latest([])


NUMERICAL = [
    (["-62", "-88", "73", "72", "15", "16", "15", "29", "-33", "-91"], "asc", "73"),
    (["5", "-8", "-78", "25", "70", "-4", "80", "92", "-20", "-24"], "desc", "-78"),
    (["47.40896403322944", "-27.8520927455902", "-27.930666514224427", "53.47333823144817",
      "3.2008658570411086"], "asc", "53.47333823144817"),
    (["-65.27202780220686", "57.82948329142309", "-90.29082099756083", "16.06867070412028"],
     "desc", "-90.29082099756083"),
    (["1606234201", "1606364286", "1606334092", "1606334284", "1606334201"], "asc", "1606364286"),
    (["1606234201", "1606364286", "1606334092", "1606334284", "1606334201"], "desc", "1606234201"),
    (["1"], "asc", "1"),
    (["1"], "desc", "1"),
]  # fmt: skip


@pytest.mark.parametrize(("tags", "order", "expected"), NUMERICAL)
def test_numerical_elects_by_value(tags: list[str], order: str, expected: str) -> None:
    policy = policies.compile_policy(_spec({"numerical": {"order": order}}))
    assert policy.latest(_shuffled(tags)) == expected


@pytest.mark.parametrize("tags", [["0", "1a", "b"], []], ids=["not-a-number", "empty"])
def test_numerical_fails_on_a_non_number_or_nothing(tags: list[str]) -> None:
    policy = policies.compile_policy(_spec({"numerical": {}}))
    with pytest.raises(policies.NoTagError):
        policy.latest(tags)


@pytest.mark.parametrize(
    ("pattern", "extract", "tags", "expected"),
    [
        ("", "", ["a"], {"a": "a"}),
        ("^ver", "", ["ver1", "ver2", "ver3", "rel1"], {"ver1": "ver1", "ver2": "ver2",
                                                        "ver3": "ver3"}),
        (r"ver(\d+)", "$1", ["ver1", "ver2", "ver3", "rel1"], {"1": "ver1", "2": "ver2",
                                                               "3": "ver3"}),
        (r"^main-(?P<sha>[a-f0-9]+)-(?P<ts>\d+)$", "$ts", ["main-abc-10", "main-def-9", "dev-1"],
         {"10": "main-abc-10", "9": "main-def-9"}),
        (r"^(?P<v>\d+)$", "${v}x$$$missing", ["7"], {"7x$": "7"}),
    ],
    ids=["none", "pattern", "capture-group", "named-groups", "go-expand-syntax"],
)  # fmt: skip
def test_filter_keeps_matches_and_extracts(
    pattern: str, extract: str, tags: list[str], expected: dict[str, str]
) -> None:
    regex = policies.compile_regex(pattern) if pattern else None
    assert policies.TagFilter(pattern=regex, extract=extract).apply(tags) == expected


def test_filter_extract_elects_the_original_tag() -> None:
    spec = _spec({"numerical": {"order": "asc"}}, pattern=r"^main-[a-f0-9]+-(?P<ts>\d+)$",
                 extract="$ts")  # fmt: skip
    tags = ["main-abc-10", "main-def-9", "main-fed-100", "feature-x"]
    assert policies.compile_policy(spec).latest(tags) == "main-fed-100"


def test_invalid_filter_and_missing_policy_are_refused() -> None:
    with pytest.raises(policies.InvalidPolicyError, match="invalid regular expression"):
        policies.compile_policy(_spec({"alphabetical": {}}, pattern="(unclosed"))
    with pytest.raises(policies.InvalidPolicyError, match="no policy"):
        policies.compile_policy(_spec({}))


def test_re2_refuses_backreferences_that_python_re_accepts() -> None:
    with pytest.raises(policies.InvalidPolicyError):
        policies.compile_regex(r"(a)\1")


def test_latest_tags_are_the_first_ten_in_descending_order() -> None:
    tags = [f"1.0.{n}" for n in range(15)]
    assert imagerepository.latest_tags(tags) == sorted(tags, reverse=True)[:10]
    assert imagerepository.latest_tags(["b", "a"]) == ["b", "a"]


def test_exclusion_list_drops_matching_tags() -> None:
    tags = ["1.0.0", "sha256-abc.sig", "sha256-abc.att", "latest"]
    default = imagerepository.exclusions(list(image.DEFAULT_EXCLUSION_LIST))
    assert imagerepository.excluded(tags, default) == [
        "1.0.0", "sha256-abc.att", "latest"]  # fmt: skip
    custom = imagerepository.exclusions([r"^sha256-", "^latest$"])
    assert imagerepository.excluded(tags, custom) == ["1.0.0"]
    with pytest.raises(policies.InvalidPolicyError):
        imagerepository.exclusions(["(?<=lookbehind)"])


def test_revision_ignores_order() -> None:
    assert imagerepository.revision(["a", "b"]) == imagerepository.revision(["b", "a"])
    assert imagerepository.revision(["a"]) != imagerepository.revision(["a", "b"])


def test_semver_among_equal_versions_elects_the_first_tag() -> None:
    policy = policies.compile_policy(_spec({"semver": {"range": ">=1.0.0"}}))
    assert policy.latest(["1.0.0", "v1.0.0", "1.0"]) == "1.0.0"
    assert policy.latest(["v1.0.0", "1.0.0"]) == "v1.0.0"


def test_a_memo_reuses_per_tag_results_and_keeps_only_current_tags() -> None:
    calls: list[str] = []
    memo = policies.Memo()

    def compute(item: str) -> str:
        calls.append(item)
        return item.upper()

    assert memo.map("sig", ["a", "b"], compute) == {"a": "A", "b": "B"}
    assert memo.map("sig", ["b", "c"], compute) == {"b": "B", "c": "C"}
    assert calls == ["a", "b", "c"]
    assert memo.map("sig", ["a"], compute) == {"a": "A"}  # "a" was dropped: computed again
    assert memo.map("other", ["a"], compute) == {"a": "A"}  # another signature: computed again
    assert calls == ["a", "b", "c", "a", "a"]


def test_an_election_with_a_memo_matches_one_without() -> None:
    spec = _spec({"semver": {"range": "^1.0"}}, pattern=r"^app-(?P<v>.+)$", extract="$v")
    policy = policies.compile_policy(spec)
    memo = policies.PolicyMemo()
    tags = ["app-1.0.0", "app-1.2.0", "other-1.9.0", "app-2.0.0"]
    assert policy.latest(tags, memo) == policy.latest(tags) == "app-1.2.0"
    tags.append("app-1.3.0")
    assert policy.latest(tags, memo) == policy.latest(tags) == "app-1.3.0"
