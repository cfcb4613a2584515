"""Properties of ``Artifact.digest`` strings, which consumers read from status over the network.

Properties: a digest Headwater computes parses back to its parts; any text
either parses or raises InvalidDigestError, never another exception; what
parses formats back to exactly the same text, with a hex part of the
algorithm's length.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from shared.artifacts import digests, errors

pytestmark = pytest.mark.fuzz


@given(algorithm=st.sampled_from(["sha256", "sha384", "sha512"]), data=st.binary(max_size=64))
def test_computed_digests_parse_back(algorithm: str, data: bytes) -> None:
    hexdigest = hashlib.new(algorithm, data).hexdigest()
    text = digests.format_digest(algorithm, hexdigest)
    assert digests.parse_digest(text) == (algorithm, hexdigest)


@given(
    text=st.one_of(
        st.text(max_size=140),
        st.builds(
            lambda algorithm, hexdigest, tail: f"{algorithm}:{hexdigest}{tail}",
            st.sampled_from(["sha256", "sha384", "sha512", "sha1", "md5", "SHA256"]),
            st.text("0123456789abcdefABCDEF", max_size=130),
            st.sampled_from(["", "\n", " ", "g"]),
        ),
    )
)
@example(text=f"sha256:{'a' * 64}\n")
def test_digests_parse_only_in_their_exact_form(text: str) -> None:
    try:
        algorithm, hexdigest = digests.parse_digest(text)
    except errors.InvalidDigestError:
        return
    assert digests.format_digest(algorithm, hexdigest) == text
    assert len(hexdigest) * 4 == hashlib.new(algorithm).digest_size * 8
