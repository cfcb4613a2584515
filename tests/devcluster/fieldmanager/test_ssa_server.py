"""The SSA conformance table (``ssa_cases``) sent as HTTP requests to a real devcluster.

Each case runs in its own namespace; every step is the request the table
names, and the outcome (status code, response body, stored object before and
after, read back with GET) is checked by the same ``ssa_runner.check`` the
pure runner uses.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import aiohttp
import pytest

from tests.devcluster.fieldmanager import ssa_cases, ssa_runner
from tests.fixtures import devcluster as fixtures

_PATHS = {
    "configmaps": "/api/v1/namespaces/{ns}/configmaps",
    "deployments": "/apis/apps/v1/namespaces/{ns}/deployments",
}
# The HTTP method and body type of each step action (see ``ssa_cases``).
_REQUESTS = {
    "apply": ("PATCH", "application/apply-patch+yaml"),
    "create": ("POST", "application/json"),
    "merge": ("PATCH", "application/merge-patch+json"),
    "json": ("PATCH", "application/json-patch+json"),
    "put": ("PUT", "application/json"),
}


async def _read(session: aiohttp.ClientSession, url: str) -> dict[str, Any] | None:
    async with session.get(url) as response:
        if response.status == 404:
            return None
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body


async def _step(
    session: aiohttp.ClientSession, base: str, collection: str, step: ssa_cases.Step
) -> ssa_runner.Outcome:
    url = f"{base}{collection}/{ssa_cases.NAME}"
    before = await _read(session, url)
    body = step.body(copy.deepcopy(before)) if callable(step.body) else step.body
    params: dict[str, str] = {}
    if step.manager is not None:
        params["fieldManager"] = step.manager
    if step.force:
        params["force"] = "true"
    if step.dry_run:
        params["dryRun"] = "All"
    target = f"{url}/{step.subresource}" if step.subresource else url
    method, content_type = _REQUESTS[step.action]
    request = session.request(
        method,
        f"{base}{collection}" if step.action == "create" else target,
        params=params,
        data=json.dumps(body),
        headers={"Content-Type": content_type},
    )
    async with request as response:
        code = response.status
        reply: dict[str, Any] = await response.json()
    after = await _read(session, url)
    return ssa_runner.Outcome(code, reply, before, after)


# No simulated controllers: their status writes would add managedFields entries.
bare_devcluster = fixtures.bare_devcluster


@pytest.mark.parametrize(
    "case", ssa_cases.CASES, ids=[f"{c.id}-{c.title[:40]}" for c in ssa_cases.CASES]
)
async def test_case_through_server(
    bare_devcluster: fixtures.Devcluster, case: ssa_cases.Case
) -> None:
    namespace = f"ssa-{case.id}".lower().replace("_", "-")
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{bare_devcluster.base_url}/api/v1/namespaces",
            json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        ) as response:
            assert response.status in (201, 409), await response.text()
        collection = _PATHS[case.resource].format(ns=namespace)
        for number, step in enumerate(case.steps, start=1):
            outcome = await _step(session, bare_devcluster.base_url, collection, step)
            problems = ssa_runner.check(step.expect, outcome)
            assert not problems, f"step {number} ({step.action} by {step.manager}): {problems}"
