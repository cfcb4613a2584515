"""Registries for the OCI client tests: the real one (``tests.fixtures.registry``),
an aiohttp session and a token cache per test."""

from __future__ import annotations

import collections.abc

import aiohttp
import pytest

from shared.oci import tokens
from tests.fixtures import registry as registry_fixtures

registry = registry_fixtures.registry
secure_registry = registry_fixtures.secure_registry


@pytest.fixture
async def session() -> collections.abc.AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def token_cache() -> tokens.TokenCache:
    return tokens.TokenCache()
