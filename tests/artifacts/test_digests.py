"""Digest strings: parsing, computing, verifying."""

from __future__ import annotations

import hashlib
import io
import pathlib

import pytest

from shared.artifacts import digests, errors


def test_file_digest_is_sha256_of_content(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"hello")
    assert digests.file_digest(path) == "sha256:" + hashlib.sha256(b"hello").hexdigest()


@pytest.mark.parametrize(
    ("digest", "fragment"),
    [
        ("sha256", "want <algorithm>:<hex>"),
        ("sha256:XYZ", "want <algorithm>:<hex>"),
        ("md5:" + "0" * 32, "unsupported digest algorithm 'md5'"),
        ("sha256:abcd", "needs 64 hex characters"),
        ("sha512:" + "0" * 64, "needs 128 hex characters"),
    ],
)
def test_parse_digest_refuses_malformed(digest: str, fragment: str) -> None:
    with pytest.raises(errors.InvalidDigestError, match=fragment):
        digests.parse_digest(digest)


def test_parse_digest_accepts_sha512() -> None:
    assert digests.parse_digest("sha512:" + "a" * 128) == ("sha512", "a" * 128)


def test_verify_file_accepts_matching_digest_of_other_algorithm(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"content")
    digests.verify_file(path, "sha512:" + hashlib.sha512(b"content").hexdigest())


def test_verify_file_reports_both_digests_on_mismatch(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"content")
    wrong = "sha256:" + "0" * 64
    with pytest.raises(errors.DigestMismatchError) as caught:
        digests.verify_file(path, wrong)
    assert caught.value.expected == wrong
    assert caught.value.actual == "sha256:" + hashlib.sha256(b"content").hexdigest()


def test_file_digest_of_missing_file_is_storage_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(errors.StorageError, match="missing"):
        digests.file_digest(tmp_path / "missing")


def test_digesting_writer_forwards_hashes_and_counts() -> None:
    target = io.BytesIO()
    writer = digests.DigestingWriter(target)
    writer.write(b"ab")
    writer.write(b"c")
    assert target.getvalue() == b"abc"
    assert writer.size == 3
    assert writer.digest == "sha256:" + hashlib.sha256(b"abc").hexdigest()
