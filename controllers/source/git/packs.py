"""Receiving a fetched pack: small objects in memory, blobs left in the spooled pack.

Contract: ``receive`` asks the remote for ``wants`` (or every branch and tag),
streams the pack to a new spool file in ``spool_dir`` (never held in memory
while it arrives), scans it once (``unpacking.scan``) and returns an
``ObjectMap`` (object id → object) and the remote's refs. In the map, whole
blobs are ``unpacking.PackedBlob`` references into the spool file, inflated
again only while the work tree is written, so memory does not grow with the
size of a file; commits, trees, tags, deltas and the objects deltas are based
on are dulwich objects, each inflated once, delta chains resolved base-first
by dulwich's ``PackInflater``. The spool file must outlive the map: the
caller removes ``spool_dir`` when the checkout is done.

Why not a dulwich repository: storing the pack makes dulwich index it (two
chain walks plus a verify) and then every lookup re-resolves its delta chain;
for a checkout that reads each object once, that tripled the cost.
"""

from __future__ import annotations

import os
import pathlib
import tempfile
from collections.abc import Mapping, Sequence

import dulwich.object_format
import dulwich.objects
import dulwich.pack
import dulwich.refs
import dulwich.repo

from controllers.source.git import transports, unpacking

PackedObject = dulwich.objects.ShaFile | unpacking.PackedBlob
ObjectMap = dict[dulwich.objects.ObjectID, PackedObject]
ZERO_ID = b"0" * 40
_FETCHED_REF_PREFIXES = (b"refs/heads/", b"refs/tags/")


def oid(hex_id: str) -> dulwich.objects.ObjectID:
    return dulwich.objects.ObjectID(hex_id.encode("ascii"))


def receive(
    transport: transports.Transport,
    *,
    wants: Sequence[str] | None,
    depth: int | None,
    spool_dir: pathlib.Path,
    wants_are_tips: bool = False,
) -> tuple[ObjectMap, dict[str, str]]:
    """Fetch ``wants`` (all branches and tags when None) at ``depth``; see the module doc.

    ``wants_are_tips``: every want is what some ref points at, so protocol v0
    suffices, and over HTTP it takes one request fewer than v2 (no separate
    ls-refs). Other wants (a pinned commit) keep the default protocol, whose
    servers more often accept unadvertised objects.
    """

    def determine_wants(
        refs: Mapping[dulwich.refs.Ref, dulwich.objects.ObjectID],  # NB: named as dulwich calls it
        depth: int | None = None,
    ) -> list[dulwich.objects.ObjectID]:
        if wants is not None:
            return [oid(w) for w in wants]
        picked = {
            sha
            for name, sha in refs.items()
            if sha and sha != ZERO_ID and not name.endswith(b"^{}")
            and name.startswith(_FETCHED_REF_PREFIXES)
        }  # fmt: skip
        return sorted(picked)

    descriptor, name = tempfile.mkstemp(prefix="incoming-", suffix=".pack", dir=spool_dir)
    spool = pathlib.Path(name)
    # An empty repository walker: we have nothing, so the server sends everything wanted.
    walker = dulwich.repo.MemoryRepo().get_graph_walker()
    with open(descriptor, "wb") as sink:
        result = transport.client.fetch_pack(
            transport.path.encode(),
            determine_wants,
            walker,
            pack_data=sink.write,
            depth=depth,
            protocol_version=0 if wants_are_tips or wants is None else None,
        )
    remote = {
        name.decode("utf-8", "replace"): sha.decode("ascii")
        for name, sha in result.refs.items()
        if sha is not None
    }
    objects: ObjectMap = {}
    if os.path.getsize(spool) > 0:
        load(spool, objects)
    return objects, remote


def load(spool: pathlib.Path, objects: ObjectMap) -> None:
    """Fill ``objects`` from the pack at ``spool``: whole blobs by reference, the rest inflated."""
    entries = unpacking.scan(spool)
    # A whole blob that some delta is based on is inflated by dulwich with its chain.
    ofs_bases = {
        entry.offset - entry.delta_base
        for entry in entries
        if entry.type_num == unpacking.OFS_DELTA and isinstance(entry.delta_base, int)
    }
    ref_bases = {
        entry.delta_base.hex().encode("ascii")
        for entry in entries
        if entry.type_num == unpacking.REF_DELTA and isinstance(entry.delta_base, bytes)
    }
    inflated: list[unpacking.Entry] = []
    for entry in entries:
        if (
            entry.blob is not None
            and entry.blob_id is not None
            and entry.offset not in ofs_bases
            and entry.blob_id not in ref_bases
        ):
            objects[entry.blob_id] = entry.blob
        else:
            inflated.append(entry)
    if not inflated:
        return
    data = dulwich.pack.PackData(str(spool), dulwich.object_format.DEFAULT_OBJECT_FORMAT)
    try:
        # NB: what DeltaChainIterator.for_pack_data does, minus its first pass
        # that inflates every object whole; the scan already found the entries.
        inflater = dulwich.pack.PackInflater(
            None, data.object_format.hash_func, object_format=data.object_format
        )
        inflater.set_pack_data(data)
        for entry in inflated:
            inflater.record(
                dulwich.pack.UnpackedObject(
                    entry.type_num, delta_base=entry.delta_base, offset=entry.offset
                )
            )
        for obj in inflater:
            objects[obj.id] = obj
    finally:
        data.close()
