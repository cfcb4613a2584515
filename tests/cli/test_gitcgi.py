"""The CGI environment and response parsing shared by the Git servers, against real git."""

from __future__ import annotations

import pathlib
import subprocess

import pytest

from headwater import gitcgi
from tests.fixtures import commands


def _advertisement_request() -> gitcgi.Request:
    return gitcgi.Request(
        method="GET",
        path="/app.git/info/refs",
        query="service=git-upload-pack",
        content_type="",
        content_length=0,
        remote_addr="127.0.0.1",
        git_protocol="version=2",
    )


def test_http_backend_answers_a_ref_advertisement(tmp_path: pathlib.Path) -> None:
    commands.run(["git", "init", "--quiet", "--bare", str(tmp_path / "app.git")])
    env = gitcgi.environment(_advertisement_request(), root=str(tmp_path))

    done = subprocess.run(["git", "http-backend"], env=env, capture_output=True, check=True)
    response = gitcgi.parse_response(done.stdout)

    assert response.status == 200
    assert response.headers["Content-Type"] == "application/x-git-upload-pack-advertisement"
    # GIT_PROTOCOL reached the backend: it answers with protocol v2's capabilities.
    assert response.body.startswith(b"000eversion 2\n")


def test_a_missing_repository_is_the_backends_404(tmp_path: pathlib.Path) -> None:
    env = gitcgi.environment(_advertisement_request(), root=str(tmp_path))

    done = subprocess.run(["git", "http-backend"], env=env, capture_output=True, check=False)

    assert gitcgi.parse_response(done.stdout).status == 404


def test_environment_ignores_user_config_and_takes_extras() -> None:
    env = gitcgi.environment(
        _advertisement_request(), root="/srv/git", extra={"REMOTE_USER": "tester"}
    )

    assert env["GIT_CONFIG_GLOBAL"] == "/dev/null"
    assert env["GIT_CONFIG_NOSYSTEM"] == "1"
    assert env["GIT_PROTOCOL"] == "version=2"
    assert env["REMOTE_USER"] == "tester"
    assert (env["PATH_INFO"], env["QUERY_STRING"]) == (
        "/app.git/info/refs",
        "service=git-upload-pack",
    )
    assert "HTTP_CONTENT_ENCODING" not in env


@pytest.mark.parametrize(
    ("raw", "status", "headers", "body"),
    [
        (b"Status: 403 Forbidden\r\nX-A: 1\r\n\r\nno", 403, {"X-A": "1"}, b"no"),
        (b"Content-Type: text/plain\n\nbody\n\nmore", 200, {"Content-Type": "text/plain"},
         b"body\n\nmore"),
        (b"no header block", 200, {}, b"no header block"),
    ],
)  # fmt: skip
def test_parse_response_splits_at_the_first_blank_line(
    raw: bytes, status: int, headers: dict[str, str], body: bytes
) -> None:
    assert gitcgi.parse_response(raw) == gitcgi.Response(status=status, headers=headers, body=body)
