"""Shell completion scripts, generated from the parser and run in a real bash."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _script(shell: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "headwater.cli.main", "completion", shell],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


@pytest.mark.parametrize(
    ("words", "offered"),
    [
        (["get", "so"], "source sources"),
        (["reconcile", "-n", "apps", "source", "g"], "git"),
        (["reconcile", "ks", "app", "--with"], "--with-source"),
        (["completion", "f"], "fish"),
    ],
)
def test_bash_completes_verbs_kinds_and_flags(words: list[str], offered: str) -> None:
    script = _script("bash")
    program = (
        f"{script}\nCOMP_WORDS=(headwater {' '.join(words)}); COMP_CWORD={len(words)}\n"
        '_headwater; echo "${COMPREPLY[@]}"'
    )
    result = subprocess.run(
        ["bash", "-c", program], capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout.strip() == offered


def test_zsh_and_fish_scripts_walk_the_same_tree() -> None:
    assert "bashcompinit" in _script("zsh")
    fish = _script("fish")
    assert 'case "/get/source"\n            printf "%s\\n" --help git oci' in fish
    assert fish.rstrip().endswith('complete -c headwater -f -a "(__headwater_complete)"')
