"""The network cut for kustomize: a real seccomp filter on real child processes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from controllers.kustomize import isolating

PROBE = """
import socket, sys
try:
    socket.socket(getattr(socket, sys.argv[1]), socket.SOCK_STREAM).close()
except PermissionError:
    print("refused")
else:
    print("opened")
"""


def _isolated(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", "-S", isolating.__file__, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("family", "want"),
    [("AF_INET", "refused"), ("AF_INET6", "refused"), ("AF_UNIX", "opened")],
)
def test_only_unix_sockets_open(family: str, want: str) -> None:
    result = _isolated(sys.executable, "-c", PROBE, family)
    assert (result.returncode, result.stdout.strip()) == (0, want), result.stderr


def test_children_inherit_the_filter() -> None:
    nested = (
        "import subprocess, sys; "
        f"sys.exit(subprocess.call([sys.executable, '-c', {PROBE!r}, 'AF_INET']))"
    )
    result = _isolated(sys.executable, "-c", nested)
    assert (result.returncode, result.stdout.strip()) == (0, "refused"), result.stderr


def test_without_the_filter_the_probe_opens() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, "AF_INET"], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "opened"


def test_an_unknown_machine_fails_closed() -> None:
    fake = (
        "import platform, runpy, sys; platform.machine = lambda: 'pdp11'; "
        f"sys.argv = [{isolating.__file__!r}, '/bin/true']; "
        f"runpy.run_path({isolating.__file__!r}, run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", fake], capture_output=True, text=True, check=False
    )
    assert result.returncode == isolating.EXIT_UNISOLATED
    assert "cannot cut the build off from the network" in result.stderr
    assert "pdp11" in result.stderr


def test_the_program_exit_status_is_kept() -> None:
    assert _isolated("/bin/sh", "-c", "exit 3").returncode == 3
