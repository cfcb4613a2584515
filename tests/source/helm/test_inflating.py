"""``inflating``: a layer inflated and written in worker threads while it downloads."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gzip
import io
import tarfile
import threading

import pytest

from controllers.source.helm import charts, errors, inflating
from tests.fixtures import polling


def _chart() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in (
            ("demo/Chart.yaml", b"apiVersion: v2\nname: demo\nversion: 1.0.0\n"),
            ("demo/values.yaml", b"x" * 300_000),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _joined(data: bytes, tar: bytes) -> tuple[bytes, bytes, int]:
    return data, tar, threading.get_ident()


async def test_chunks_are_kept_inflated_and_written_in_workers_then_finished() -> None:
    archive = _chart()
    written: list[bytes] = []
    async with inflating.Inflating(charts.Limits(), _joined, written.append) as arriving:
        for start in range(0, len(archive), 1000):
            arriving.feed(archive[start : start + 1000])
    data, tar, thread = await arriving.result()

    assert data == archive == b"".join(written)
    assert tar == gzip.decompress(archive)
    assert thread != threading.get_ident()


async def test_no_thread_is_held_while_no_chunk_waits() -> None:
    # One thread in the default executor: a worker waiting for the next chunk
    # would keep this to_thread call from ever running.
    loop = asyncio.get_running_loop()
    single = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    loop.set_default_executor(single)
    archive = _chart()
    try:
        async with inflating.Inflating(charts.Limits(), _joined) as arriving:
            arriving.feed(archive[: len(archive) // 2])
            assert await asyncio.wait_for(asyncio.to_thread(lambda: "ran"), timeout=30) == "ran"
            arriving.feed(archive[len(archive) // 2 :])
        data, _, _ = await arriving.result()
    finally:
        single.shutdown(wait=True)
    assert data == archive


async def test_a_refused_chunk_raises_and_nothing_follows() -> None:
    finished: list[bytes] = []

    def finish(data: bytes, tar: bytes) -> None:
        finished.append(data)

    async def feed_what_is_not_gzip() -> None:
        async with inflating.Inflating(charts.Limits(), finish) as arriving:
            arriving.feed(b"\x1f\x8bnot gzip at all")
            # The refusal shows at a later feed, once a worker has seen the chunk.
            polling.poll(lambda: arriving.feed(b"more"), what="the refusal")

    with pytest.raises(errors.HelmError, match="failed to read chart archive"):
        await feed_what_is_not_gzip()
    assert finished == []


async def test_leaving_on_an_exception_stops_the_work() -> None:
    archive = _chart()
    finished: list[bytes] = []
    written: list[bytes] = []

    def finish(data: bytes, tar: bytes) -> None:
        finished.append(data)

    async def fail_after_one_chunk() -> None:
        async with inflating.Inflating(charts.Limits(), finish, written.append) as arriving:
            arriving.feed(archive[:1000])
            arriving.feed(archive[1000:2000])
            raise RuntimeError("download failed")

    with pytest.raises(RuntimeError, match="download failed"):
        await fail_after_one_chunk()
    count = len(written)  # the block waited for the worker: nothing is written later
    assert await asyncio.to_thread(lambda: len(written)) == count <= 2
    assert finished == []
