"""Fixtures of the devcluster tests: the shared server fixture and a namespace per test."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import pytest

from tests.fixtures import devcluster as devcluster_fixtures

devcluster = devcluster_fixtures.devcluster
_counter = itertools.count()


@pytest.fixture
def namespace(devcluster: devcluster_fixtures.Devcluster) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards."""
    name = f"t{next(_counter)}"
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    devcluster.kubectl("create", "-f", "-", input=json.dumps(body))
    yield name
    devcluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
