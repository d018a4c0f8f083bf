import pytest

from tripletclip import io


def test_atomic_path_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("half", encoding="utf-8")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    io.write_json(target, {"a": 1})
    assert io.read_json(target) == {"a": 1} and [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_shards_are_byte_identical_and_truncation_is_reported(tmp_path):
    for name in ("a.tar", "b.tar"):
        with io.shard_writer(tmp_path / name) as sink:
            for i in range(5):
                sink.write({"__key__": f"{i:03d}", "txt": f"caption {i}", "neg.txt": "neg"})
    data = (tmp_path / "a.tar").read_bytes()
    assert data == (tmp_path / "b.tar").read_bytes()
    samples = list(io.iter_shard(tmp_path / "a.tar"))
    assert [s["__key__"] for s in samples] == ["000", "001", "002", "003", "004"]
    assert samples[2]["neg.txt"] == b"neg"
    # cut inside the tar's padding: every member is intact, only the missing end marker tells
    (tmp_path / "cut.tar").write_bytes(data[: len(data) // 2])
    errors = []
    assert len(list(io.iter_shard(tmp_path / "cut.tar", errors))) == 5
    assert len(errors) == 1 and "truncated" in errors[0]
    # cut inside a member
    (tmp_path / "cut.tar").write_bytes(data[:1200])
    errors = []
    assert len(list(io.iter_shard(tmp_path / "cut.tar", errors))) < 5
    assert errors
    with pytest.raises(Exception):
        list(io.iter_shard(tmp_path / "cut.tar"))
