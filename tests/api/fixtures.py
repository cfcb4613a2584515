"""Loading the manifest fixtures under tests/api/fixtures.

valid/*.yaml: manifests (one document each) that every model must accept and
round-trip. invalid/*.yaml: manifests that must be refused; the first line is
``# expect: <text>``, a fragment the validation error must contain.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

from ruamel.yaml import YAML

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


@dataclasses.dataclass(frozen=True)
class Fixture:
    path: pathlib.Path
    manifest: dict[str, Any]
    expect: str | None

    @property
    def id(self) -> str:
        return self.path.stem


def _plain(node: Any) -> Any:
    """ruamel's round-trip types as plain dicts, lists and scalars."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


def load(kind: str) -> list[Fixture]:
    """The fixtures of one kind of directory ("valid" or "invalid"), sorted by name."""
    yaml = YAML(typ="safe")
    fixtures = []
    for path in sorted((FIXTURES / kind).glob("*.yaml")):
        text = path.read_text()
        expect = None
        first = text.splitlines()[0]
        if first.startswith("# expect:"):
            expect = first.removeprefix("# expect:").strip()
        fixtures.append(Fixture(path=path, manifest=_plain(yaml.load(text)), expect=expect))
    return fixtures
