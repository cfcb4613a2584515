"""Properties of Flux revision strings, which are read back from status other processes wrote.

``parse_revision`` reads ``<ref>@sha1:<hex>``, ``sha1:<hex>`` (and sha256).
Properties: formatting then parsing gives the parts back; any text either
parses or gives None, never an exception; what parses names a hash of the
algorithm's length and formats back to the same text.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from controllers.source.git import revisions

pytestmark = pytest.mark.fuzz

_HEX = "0123456789abcdef"
commits = st.one_of(
    st.text(_HEX, min_size=40, max_size=40), st.text(_HEX, min_size=64, max_size=64)
)
# Git ref components: no control characters, spaces, "~^:?*[\", no "..", "@{" or
# a trailing ".lock"; "@" and "/" are allowed and are what a parser may trip on.
_component = st.text(
    st.characters(blacklist_characters=" ~^:?*[\\", min_codepoint=0x21, max_codepoint=0x2FF),
    min_size=1,
    max_size=12,
).filter(lambda part: ".." not in part and "@{" not in part and part != "@")
short_refs = st.lists(_component, min_size=1, max_size=4).map("/".join)
full_refs = st.builds(
    lambda kind, name: f"refs/{kind}/{name}",
    st.sampled_from(["heads", "tags", "pull", "merge-requests"]),
    short_refs,
)


@given(ref=st.one_of(st.none(), full_refs), commit=commits, absolute=st.booleans())
@example(ref="refs/heads/user@host", commit="a" * 40, absolute=False)
def test_formatted_revisions_parse_back(ref: str | None, commit: str, absolute: bool) -> None:
    revision = revisions.format_revision(ref=ref, commit=commit, absolute=absolute)
    parsed = revisions.parse_revision(revision)
    assert parsed is not None
    expected_name = None if ref is None else (ref if absolute else revisions.short_ref(ref))
    algorithm = "sha256" if len(commit) == 64 else "sha1"
    assert parsed == revisions.ParsedRevision(
        name=expected_name, algorithm=algorithm, commit=commit
    )


near_revisions = st.builds(
    lambda name, at, algorithm, commit: f"{name}{at}{algorithm}:{commit}",
    st.one_of(st.just(""), short_refs, st.text(max_size=6)),
    st.sampled_from(["@", "", "/", "@@"]),
    st.sampled_from(["sha1", "sha256", "md5", "SHA1", ""]),
    st.one_of(commits, st.text(_HEX + "AG\n", max_size=70)),
)


@given(text=st.one_of(st.text(max_size=120), near_revisions))
@example(text=f"main@sha1:{'a' * 64}")
@example(text=f"sha256:{'a' * 40}")
def test_any_text_parses_to_a_revision_that_formats_back_or_to_none(text: str) -> None:
    parsed = revisions.parse_revision(text)
    if parsed is None:
        return
    commit_length = {"sha1": 40, "sha256": 64}[parsed.algorithm]
    assert len(parsed.commit) == commit_length, "the algorithm names the hash length"
    # An empty name ("@sha1:…") reads as no name.
    expected = text[1:] if parsed.name is None and text.startswith("@") else text
    assert revisions.format_revision(ref=parsed.name, commit=parsed.commit, absolute=True) == (
        expected
    )
