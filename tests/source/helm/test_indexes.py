"""Repository indexes: Helm's normalisation, Flux's version choice, the JSON artifact, the cache."""

from __future__ import annotations

import pytest
import yaml

from controllers.source.helm import errors, indexes


def _index(versions: dict[str, list[dict[str, object]]]) -> bytes:
    return yaml.safe_dump({"apiVersion": "v1", "entries": versions}).encode()


def _entries(*versions: str, name: str = "demo") -> list[dict[str, object]]:
    return [{"name": name, "version": v, "urls": [f"{name}-{v}.tgz"]} for v in versions]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty index.yaml file"),
        (b"entries: {}\n", "no API version specified"),
        (b"apiVersion: v1\nentries: [\n", "while parsing"),
    ],
)
def test_an_index_helm_cannot_load_is_an_indexation_error(body: bytes, message: str) -> None:
    with pytest.raises(errors.IndexationError, match=message) as failed:
        indexes.parse(body)
    assert failed.value.reason == "IndexationFailed"


def test_invalid_versions_are_dropped_and_versions_sorted_newest_first() -> None:
    index = indexes.parse(
        _index({"demo": [*_entries("1.0.0", "not-semver", "2.0.0", "1.5.0"), {"version": "3.0.0"}]})
    )
    assert [v["version"] for v in index.versions("demo") or []] == ["2.0.0", "1.5.0", "1.0.0"]


def test_timestamps_stay_strings() -> None:
    body = b"apiVersion: v1\ngenerated: 2026-01-01T00:00:00Z\nentries:\n  demo:\n" + (
        b"  - {name: demo, version: 1.0.0, created: 2026-01-02T03:04:05.5Z}\n"
    )
    index = indexes.parse(body)
    assert index.blocks is not None  # read lazily
    assert (index.versions("demo") or [])[0]["created"] == "2026-01-02T03:04:05.5Z"


HELM_WRITTEN = b"""apiVersion: v1
entries:
  # a comment between charts
  "quoted-name":
  - apiVersion: v2
    created: "2026-01-01T00:00:00Z"
    description: |
      A block scalar
      over lines
    name: quoted-name
    urls:
    - https://example.org/quoted-name-1.0.0.tgz
    version: 1.0.0
  empty: []
  podinfo:
    - name: podinfo
      version: 6.0.3
      annotations:
        category: Test
    - name: podinfo
      version: 6.1.0
generated: "2026-01-01T00:00:00Z"
serverInfo:
  contextPath: /charts
"""


@pytest.mark.parametrize(
    "body",
    [
        HELM_WRITTEN,
        HELM_WRITTEN.replace(b"\n  ", b"\n    "),  # charts at another indentation
        b"apiVersion: v1\nentries: {}\n",
        b"{apiVersion: v1, entries: {podinfo: [{name: podinfo, version: 1.0.0}]}}\n",
        b'{"apiVersion": "v1", "entries": {"podinfo": [{"name": "podinfo", "version": "1.0.0"}]}}',
        b"apiVersion: v1\nentries: &e\n  podinfo: []\nother: *e\n",
    ],
    ids=["helm-written", "indent-4", "empty", "flow", "json", "anchors"],
)
def test_the_lazy_index_reads_every_chart_as_a_full_parse_does(body: bytes) -> None:
    index = indexes.parse(body)
    full = yaml.safe_load(body)
    assert index.api_version == full["apiVersion"]
    assert sorted(index.names()) == sorted(full["entries"] or {})
    for name, versions in (full["entries"] or {}).items():
        expected = sorted(
            (str(v["version"]) for v in versions),
            key=lambda v: tuple(map(int, v.split("."))),
            reverse=True,
        )
        assert [v["version"] for v in index.versions(name) or []] == expected


def test_a_broken_chart_block_fails_when_that_chart_is_read() -> None:
    body = b"apiVersion: v1\nentries:\n  good:\n  - {name: good, version: 1.0.0}\n  bad:\n  - [\n"
    index = indexes.parse(body)
    assert index.get("good", "*")["version"] == "1.0.0"
    with pytest.raises(errors.IndexationError):
        index.get("bad", "*")


@pytest.mark.parametrize(
    ("constraint", "chosen"),
    [
        ("*", "2.1.0"),
        ("", "2.1.0"),
        ("1.x", "1.5.0"),
        ("~1.2", "1.2.9"),
        ("^1.2.3", "1.5.0"),
        (">=1.0.0 <2.0.0 || >=3", "1.5.0"),
        ("!=2.1.0", "2.0.0"),
        ("1.0.0 - 1.3", "1.2.9"),
        (">=2.2.0-0", "2.2.0-rc.1"),
        ("2.2.0-rc.1", "2.2.0-rc.1"),
    ],
)
def test_the_newest_version_the_range_allows_is_chosen(constraint: str, chosen: str) -> None:
    index = indexes.parse(
        _index({"demo": _entries("1.0.0", "1.2.9", "1.5.0", "2.0.0", "2.1.0", "2.2.0-rc.1")})
    )
    assert index.get("demo", constraint)["version"] == chosen


def test_a_tie_on_version_goes_to_the_newest_created() -> None:
    entries: list[dict[str, object]] = [
        {"name": "demo", "version": "1.0.0+a", "created": "2026-01-01T00:00:00Z"},
        {"name": "demo", "version": "1.0.0+b", "created": "2026-02-01T00:00:00Z"},
    ]
    assert indexes.parse(_index({"demo": entries})).get("demo", "*")["version"] == "1.0.0+b"


def test_missing_charts_and_versions_say_so_as_flux_does() -> None:
    index = indexes.parse(_index({"demo": _entries("1.0.0"), "empty": []}))
    with pytest.raises(indexes.ChartReferenceError, match=r"^no chart name found$"):
        index.get("other", "*")
    with pytest.raises(indexes.ChartReferenceError, match=r"^no chart version found$"):
        index.get("empty", "*")
    with pytest.raises(
        indexes.ChartReferenceError, match=r"^no 'demo' chart with version matching '>=2' found$"
    ):
        index.get("demo", ">=2")
    with pytest.raises(indexes.ChartReferenceError, match="improper constraint"):
        index.get("demo", ">=>2")


def test_the_cache_is_bounded_and_entries_expire_after_their_last_use() -> None:
    now = [0.0]
    cache = indexes.Cache(max_size=2, ttl=10, clock=lambda: now[0])
    first, second, third = (indexes.Index(api_version="v1", entries={}) for _ in range(3))
    cache.put("a", first)
    cache.put("b", second)
    now[0] = 5
    assert cache.get("a") is first  # refreshed: now expires at 15
    cache.put("c", third)  # evicts b, the least recently used
    assert cache.get("b") is None
    now[0] = 12
    assert cache.get("c") is third  # refreshed: expires at 22; a still expires at 15
    now[0] = 14
    assert cache.purge() == 0
    now[0] = 15.5
    assert cache.purge() == 1
    assert len(cache) == 1
    assert cache.get("a") is None
    assert cache.get("c") is third


def test_a_cache_of_size_zero_keeps_nothing() -> None:
    cache = indexes.Cache(max_size=0, ttl=10)
    cache.put("a", indexes.Index(api_version="v1", entries={}))
    assert cache.get("a") is None
