"""``regexes``: the direct RE2 search gives what the binding's public ``search`` gives."""

from __future__ import annotations

import pytest
import re2

from controllers.image_reflector import regexes


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"^main-[a-f0-9]+-(?P<ts>\d+)$", "main-abc-100"),
        (r"^main-[a-f0-9]+-(?P<ts>\d+)$", "dev-1"),
        (r"(\d+)\.(\d+)(?:-(rc))?", "v1.20"),
        (r"(\d+)\.(\d+)(?:-(rc))?", "v1.20-rc"),
        (r"\.sig$", "sha256-abc.sig"),
        (r"", "anything"),
        (r"x*", "abc"),
        (r"(é+)-(\w+)", "tag-éé-ß1"),
        (r"(?i)LATEST", "latest"),
    ],
    ids=["named", "no-match", "unset-group", "all-groups", "suffix", "empty", "empty-match",
         "non-ascii", "flags"],
)  # fmt: skip
def test_search_gives_the_groups_the_public_api_gives(pattern: str, text: str) -> None:
    expected = re2.compile(pattern).search(text)
    found = regexes.compile(pattern).search(text)
    if expected is None:
        assert found is None
    else:
        assert found == [expected.group(0), *expected.groups()]


def test_compiled_pattern_keeps_its_source_and_group_names() -> None:
    regex = regexes.compile(r"^(?P<sha>[a-f0-9]+)-(?P<ts>\d+)$")
    assert (regex.pattern, regex.groups, dict(regex.groupindex)) == (
        r"^(?P<sha>[a-f0-9]+)-(?P<ts>\d+)$", 2, {"sha": 1, "ts": 2}
    )  # fmt: skip


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=a)", "(unclosed"])
def test_what_re2_refuses_is_an_error(pattern: str) -> None:
    with pytest.raises(regexes.error):
        regexes.compile(pattern)
