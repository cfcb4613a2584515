"""The tag store: records survive a new store (a restart), replace atomically, go away."""

from __future__ import annotations

import pathlib

from controllers.image_reflector import tagstore


def test_a_record_survives_a_new_store_and_is_replaced_whole(tmp_path: pathlib.Path) -> None:
    tagstore.TagStore(tmp_path).write("ns", "app", tagstore.Record(tags=["1.0", "2.0"]))
    reopened = tagstore.TagStore(tmp_path)
    assert reopened.read("ns", "app") == tagstore.Record(tags=["1.0", "2.0"])

    reopened.write("ns", "app", tagstore.Record(tags=["3.0"], requested_at="now"))

    assert reopened.read("ns", "app") == tagstore.Record(tags=["3.0"], requested_at="now")
    assert sorted(p.name for p in (tmp_path / "ns").iterdir()) == ["app.json"]


def test_missing_or_torn_records_read_as_none_and_remove_forgets(tmp_path: pathlib.Path) -> None:
    store = tagstore.TagStore(tmp_path)
    assert store.read("ns", "absent") is None
    (tmp_path / "ns").mkdir()
    (tmp_path / "ns" / "torn.json").write_text('{"tags": ["1.0"')
    assert store.read("ns", "torn") is None

    store.write("ns", "app", tagstore.Record(tags=["1.0"]))
    store.remove("ns", "app")
    store.remove("ns", "app")

    assert store.read("ns", "app") is None
