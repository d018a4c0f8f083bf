"""Data people already have (tripletclip.sources): COCO with Karpathy's split file in COCO's folders, webdataset
shards with their own member names, the authors' TripletData shards; the checks' errors; negate and pack reading other
member names; the shapes world written as COCO (world.write_karpathy)."""

import importlib.util
import io as stdio
import json
import sys
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from tripletclip import io, pack, shapes, sources, world
from tripletclip.negate import job

REPO = Path(__file__).resolve().parents[1]
CAPTION = "a small red circle left of a large blue square"
NEGATE = {"backend": "shapes", "types": list(shapes.NEGATIVE_TYPES), "num_negatives": 1, "batch_size": 4}


def jpeg(colour=(200, 30, 30), size=8, fmt="JPEG") -> bytes:
    buffer = stdio.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format=fmt)
    return buffer.getvalue()


def karpathy_image(imgid, cocoid, split, folder, sentences):
    """One entry of `images` as Karpathy's dataset_coco.json writes it."""
    sents = [{"tokens": raw.lower().split(), "raw": raw, "imgid": imgid, "sentid": sentid}
             for sentid, raw in sentences]
    return {"filepath": folder, "sentids": [s for s, _ in sentences], "filename": f"COCO_{folder}_{cocoid:012d}.jpg",
            "imgid": imgid, "split": split, "sentences": sents, "cocoid": cocoid}


def write_coco(root: Path, images: list[dict], files: dict[str, bytes]) -> tuple[str, str]:
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    annotations = root / "annotations" / "dataset_coco.json"
    annotations.write_text(json.dumps({"images": images, "dataset": "coco"}), encoding="utf-8")
    for relpath, data in files.items():
        (root / "images" / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / "images" / relpath).write_bytes(data)
    return str(annotations), str(root / "images")


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    """Four splits as Karpathy's file has them: train in train2014/, restval, val and test in val2014/; the last
    train image lies flat in the image folder (a folder of every image, as some labs keep COCO)."""
    images = [
        karpathy_image(0, 391895, "train", "train2014", [(770337, "A man riding a bike."), (771687, "A cyclist.\n")]),
        karpathy_image(1, 522418, "restval", "val2014", [(681330, "A woman cutting a cake."),
                                                         (686718, "A cake on a table."), (688839, "Cake time.")]),
        karpathy_image(2, 184613, "val", "val2014", [(555, "A child holding an umbrella.")]),
        karpathy_image(3, 318219, "test", "val2014", [(556, "A laptop on a desk."), (557, "A desk.")]),
        karpathy_image(4, 554625, "train", "train2014", [(600, "A dog on a couch."), (601, "A couch.")]),
    ]
    files = {f"{im['filepath']}/{im['filename']}": jpeg((40 * i, 20, 20)) for i, im in enumerate(images[:4])}
    files[images[4]["filename"]] = jpeg((0, 0, 200))  # flat
    annotations, image_dir = write_coco(tmp_path_factory.mktemp("coco"), images, files)
    return annotations, image_dir, files


def test_coco_pairs_are_every_caption_of_the_splits_in_file_order(coco):
    annotations, image_dir, _ = coco
    pairs = sources.coco_pairs(annotations, ["train", "restval"])
    assert [p["split"] for p in pairs] == ["train"] * 2 + ["restval"] * 3 + ["train"] * 2
    assert pairs[0] == {"key": "000000391895_770337", "image": "train2014/COCO_train2014_000000391895.jpg",
                        "caption": "A man riding a bike.", "cocoid": 391895, "sentid": 770337, "split": "train"}
    assert pairs[1]["caption"] == "A cyclist."  # COCO's stray newline dropped
    assert len({p["key"] for p in pairs}) == len(pairs)
    assert [len(sources.coco_pairs(annotations, [s])) for s in ("train", "restval", "val", "test")] == [4, 3, 1, 2]
    assert sources.check_coco(annotations, image_dir, ["train", "restval"]) == 7
    assert sources.check_coco(annotations, image_dir, ["test"]) == 2


def test_a_coco_shard_holds_its_range_of_pairs_with_the_image_files_bytes(coco, tmp_path):
    annotations, image_dir, files = coco
    pairs = sources.coco_pairs(annotations, ["train", "restval"])
    shards = []
    for i in range(3):  # 7 pairs, 3 a shard
        stats = sources.write_coco_shard(annotations, image_dir, ["train", "restval"], i, 3, str(tmp_path / f"{i}.tar"),
                                         str(tmp_path / f"{i}_stats.json"))
        assert stats == io.read_json(tmp_path / f"{i}_stats.json")
        assert stats["in"] == stats["written"] == stats["successes"] == len(pairs[3 * i:3 * i + 3])
        assert stats["dropped"] == {} and stats["errors"] == []
        shards.append(list(io.iter_shard(tmp_path / f"{i}.tar")))
    samples = [s for shard in shards for s in shard]
    assert [s["__key__"] for s in samples] == [p["key"] for p in pairs]
    for sample, pair in zip(samples, pairs):
        assert set(sample) == {"__key__", "__url__", "jpg", "txt", "json"}
        assert sample["txt"].decode() == pair["caption"]
        relpath = pair["image"] if pair["image"] in files else pair["image"].rpartition("/")[2]
        assert sample["jpg"] == files[relpath]  # the original bytes, not re-encoded
        folder, _, name = pair["image"].rpartition("/")
        assert json.loads(sample["json"]) == {"cocoid": pair["cocoid"], "sentid": pair["sentid"],
                                              "split": pair["split"], "filepath": folder, "filename": name}
    with pytest.raises(ValueError, match="shard 3 of 3 pairs is past the 7 pairs"):
        sources.write_coco_shard(annotations, image_dir, ["train", "restval"], 3, 3, str(tmp_path / "x.tar"),
                                 str(tmp_path / "x.json"))
    assert not (tmp_path / "x.tar").exists()


def test_a_missing_and_a_corrupt_image_are_counted_and_skipped(tmp_path):
    images = [karpathy_image(0, 1, "train", "train2014", [(1, "A good one.")]),
              karpathy_image(1, 2, "train", "train2014", [(2, "Missing."), (3, "Missing again.")]),
              karpathy_image(2, 3, "train", "train2014", [(4, "Corrupt.")]),
              karpathy_image(3, 4, "train", "train2014", [(5, "   ")]),
              karpathy_image(4, 5, "train", "train2014", [(6, "Good too.")])]
    files = {f"train2014/{images[i]['filename']}": jpeg() for i in (0, 3, 4)}
    files[f"train2014/{images[2]['filename']}"] = jpeg()[:40]  # cut short
    annotations, image_dir = write_coco(tmp_path, images, files)
    stats = sources.write_coco_shard(annotations, image_dir, ["train"], 0, 100, str(tmp_path / "s.tar"),
                                     str(tmp_path / "s.json"))
    assert stats["dropped"] == {"missing_image": 2, "corrupt_image": 1, "empty_caption": 1}
    assert stats["in"] == 6 == stats["written"] + sum(stats["dropped"].values())
    assert stats["successes"] == stats["written"] == 2
    assert "COCO_train2014_000000000002.jpg is not at" in stats["errors"][0]
    assert any("does not decode" in e for e in stats["errors"])
    assert [s["__key__"] for s in io.iter_shard(tmp_path / "s.tar")] == ["000000000001_1", "000000000005_6"]


@pytest.mark.parametrize("case, message", [
    ("no_file", r"coco.annotations: .*nothere.json does not exist"),
    ("not_json", r"is not JSON"),
    ("no_images", r"is not Karpathy's split file .*: it has no 'images' list"),
    ("no_split", r"is not Karpathy's split file .*: images\[1\] has no 'split'"),
    ("no_raw", r"images\[0\]\['sentences'\]\[1\] has no 'raw'"),
    ("unknown_split", r"no image of split 'trian' in .*; its splits are: restval \(1 images\), train \(2 images\)"),
    ("first_image_missing", r"the first image, train2014/COCO_train2014_000000000001.jpg, is not at "
                            r".*images/train2014/COCO_train2014_000000000001.jpg or "
                            r".*images/COCO_train2014_000000000001.jpg"),
    ("no_image_dir", r"coco.image_dir: .* is not a folder"),
])
def test_check_coco_says_what_is_wrong(tmp_path, case, message):
    images = [karpathy_image(0, 1, "train", "train2014", [(1, "One."), (2, "Two.")]),
              karpathy_image(1, 2, "restval", "val2014", [(3, "Three.")]),
              karpathy_image(2, 3, "train", "train2014", [(4, "Four.")])]
    files = {f"{im['filepath']}/{im['filename']}": jpeg() for im in images}
    splits = ["train", "restval"]
    if case == "no_split":
        del images[1]["split"]
    if case == "no_raw":
        del images[0]["sentences"][1]["raw"]
    if case == "unknown_split":
        splits = ["train", "trian"]
    if case == "first_image_missing":
        del files["train2014/COCO_train2014_000000000001.jpg"]
    annotations, image_dir = write_coco(tmp_path, images, files)
    if case == "no_file":
        annotations = str(tmp_path / "nothere.json")
    if case == "not_json":
        Path(annotations).write_text("{images: [", encoding="utf-8")
    if case == "no_images":
        Path(annotations).write_text(json.dumps({"annotations": []}), encoding="utf-8")
    if case == "no_image_dir":
        image_dir = str(tmp_path / "no_images")
    with pytest.raises(ValueError, match=message):
        sources.check_coco(annotations, image_dir, splits)


def test_the_coco_rule_script_reads_its_params(coco, tmp_path):
    annotations, image_dir, _ = coco
    script = load_script("coco_source")
    smk = SimpleNamespace(input=[annotations], log=[str(tmp_path / "log" / "00001.log")],
                          output=SimpleNamespace(tar=str(tmp_path / "00001.tar"), stats=str(tmp_path / "s.json")),
                          params=SimpleNamespace(coco={"annotations": annotations, "image_dir": image_dir,
                                                       "splits": ["train", "restval"], "samples_per_shard": 4},
                                                 samples_per_shard=4),
                          wildcards=SimpleNamespace(shard="00001"))
    script.main(smk)
    assert io.read_json(tmp_path / "s.json")["written"] == 3  # pairs 4 to 6 of 7
    assert len(list(io.iter_shard(tmp_path / "00001.tar"))) == 3


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"script_{name}", REPO / "workflow_scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------------------------------------
# Shards on disk


def write_shard(path: Path, samples: list[dict]) -> str:
    with io.shard_writer(path) as sink:
        for sample in samples:
            sink.write(sample)
    return str(path)


def test_brace_patterns_and_lists_expand_in_order_and_refuse_duplicates():
    assert sources.expand_shards("/d/{00000..00002}.tar") == ["/d/00000.tar", "/d/00001.tar", "/d/00002.tar"]
    assert sources.expand_shards(["/d/b.tar", "/d/{x,a}.tar"]) == ["/d/b.tar", "/d/x.tar", "/d/a.tar"]
    assert sources.expand_shards("/d/one.tar") == ["/d/one.tar"]
    with pytest.raises(ValueError, match="1 shard paths come more than once: /d/00001.tar"):
        sources.expand_shards(["/d/{00000..00001}.tar", "/d/00001.tar"])
    with pytest.raises(ValueError, match="no shards"):
        sources.expand_shards([])


def test_check_webdataset_names_the_missing_shards_and_the_keys_found(tmp_path):
    for i in (0, 2):
        write_shard(tmp_path / f"{i:05d}.tar", [{"__key__": "000000000", "jpg": jpeg(), "txt": CAPTION,
                                                   "json": {"status": "success"}}])
    paths = sources.expand_shards(str(tmp_path / "{00000..00003}.tar"))
    with pytest.raises(ValueError, match=r"webdataset.shards: 2 of 4 shards do not exist: .*00001.tar, .*00003.tar"):
        sources.check_webdataset(paths, "jpg", "txt")
    present = [paths[0], paths[2]]
    sources.check_webdataset(present, "jpg", "txt")
    with pytest.raises(ValueError, match=r"first sample of .*00000.tar \('000000000'\) has no 'caption' "
                                         r"\(webdataset.caption_key\) member; its members are: jpg, json, txt"):
        sources.check_webdataset(present, "jpg", "caption")
    (tmp_path / "bad.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(ValueError, match="bad.tar is not a readable tar"):
        sources.check_webdataset([str(tmp_path / "bad.tar")], "jpg", "txt")


def test_check_webdataset_reads_a_tar_made_by_hand_by_key(tmp_path):
    """`tar cf shard.tar *.png *.caption`: the first sample's members are far apart, and still found."""
    with tarfile.open(tmp_path / "hand.tar", "w") as tar:
        for ext, data in [("png", jpeg(fmt="PNG")), ("png", jpeg(fmt="PNG")), ("caption", b"a"), ("caption", b"b")]:
            name = f"s{sum(m.name.endswith(ext) for m in tar.getmembers())}.{ext}"
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, stdio.BytesIO(data))
    sources.check_webdataset([str(tmp_path / "hand.tar")], "png", "caption")


def test_check_tripletdata_wants_its_four_keys(tmp_path):
    full = {"__key__": "0", "image": jpeg(), "caption": "a", "neg_image": jpeg(), "neg_caption": "b"}
    good = write_shard(tmp_path / "good.tar", [full])
    sources.check_tripletdata([good])
    lacking = write_shard(tmp_path / "lacking.tar", [{k: v for k, v in full.items() if k != "neg_image"}])
    with pytest.raises(ValueError, match=r"has no 'neg_image' member; its members are: caption, image, neg_caption"):
        sources.check_tripletdata([lacking])
    with pytest.raises(ValueError, match=r"tripletdata.shards: 1 of 2 shards do not exist: .*gone.tar"):
        sources.check_tripletdata([good, str(tmp_path / "gone.tar")])


def test_negate_reads_captions_under_the_configured_key_in_this_or_another_interpreter(tmp_path):
    shard = write_shard(tmp_path / "00000.tar", [
        {"__key__": "a", "png": jpeg(fmt="PNG"), "caption": CAPTION, "txt": "not this one"},
        {"__key__": "b", "png": jpeg(fmt="PNG"), "txt": CAPTION},  # no caption under the key
        {"__key__": "c", "png": jpeg(fmt="PNG"), "caption": ""}])
    spec = {"input": shard, "negatives": str(tmp_path / "n.jsonl"), "stats": str(tmp_path / "n.json"),
            "negate": NEGATE, "seed": 0, "heldout_combos": 6, "caption_key": "caption"}
    stats = job.run(spec)
    assert stats["in"] == 3 and stats["negated"] == 1
    assert stats["failed"] == {"missing_caption": 1, "empty_caption": 1}
    rows = io.read_jsonl(tmp_path / "n.jsonl")
    assert rows[0]["caption"] == CAPTION and rows[0]["status"] == "ok"
    # the same spec through a JSON file in another process (negate.python)
    other = dict(spec, negatives=str(tmp_path / "m.jsonl"), stats=str(tmp_path / "m.json"))
    job.run_with(sys.executable, other, str(tmp_path / "job.log"))
    assert io.read_jsonl(tmp_path / "m.jsonl") == rows
    # the rule's script passes the rule's caption_key param
    script = load_script("negate")
    smk = SimpleNamespace(input=[shard], log=[str(tmp_path / "negate.log")],
                          output=SimpleNamespace(negatives=str(tmp_path / "s.jsonl"), stats=str(tmp_path / "s.json")),
                          params=SimpleNamespace(negate=NEGATE, world={"heldout_combos": 6}, caption_key="caption",
                                                 seed=0))
    script.main(smk)
    assert io.read_jsonl(tmp_path / "s.jsonl") == rows


def test_pack_reads_the_configured_keys_and_writes_jpg_and_txt(tmp_path):
    png = jpeg(fmt="PNG")
    download = write_shard(tmp_path / "dl.tar", [
        {"__key__": "a", "png": png, "caption": CAPTION, "json": b"not json"},
        {"__key__": "b", "png": png},
        {"__key__": "c", "jpg": png, "caption": CAPTION}])
    neg = [{"text": "a small blue circle left of a large red square", "type": "swap_att"}]
    io.write_jsonl(tmp_path / "neg.jsonl", [{"key": k, "caption": CAPTION, "negatives": neg, "backend": "shapes",
                                             "attempts": 1, "status": "ok"} for k in "abc"])
    negative = jpeg((0, 0, 255))
    synthesized = write_shard(tmp_path / "syn.tar", [{"__key__": k, "jpg": negative, "json": {"backend": "shapes"}}
                                                     for k in "abc"])
    script = load_script("pack")
    smk = SimpleNamespace(input=SimpleNamespace(download=download, negatives=str(tmp_path / "neg.jsonl"),
                                                synthesized=synthesized),
                          output=SimpleNamespace(tar=str(tmp_path / "out.tar"), stats=str(tmp_path / "out.json")),
                          params=SimpleNamespace(image_key="png", caption_key="caption"),
                          log=[str(tmp_path / "pack.log")])
    script.main(smk)
    stats = io.read_json(tmp_path / "out.json")
    assert stats["packed"] == 1 and stats["dropped"] == {"missing_caption": 1, "missing_image": 1}
    assert stats["in"] == 3 and any("a.json is not JSON" in e for e in stats["input_errors"])
    [sample] = io.iter_shard(tmp_path / "out.tar")
    assert set(sample) == {"__key__", "__url__", "jpg", "txt", "neg.jpg", "neg.txt", "json"}
    assert sample["jpg"] == png and sample["txt"].decode() == CAPTION  # the PNG's bytes as they are
    assert sample["neg.jpg"] == negative


# A lab's shards whose caption lives only in their .json member (DataComp, LAION subsets, img2dataset without .txt)
NESTED = "a small blue circle left of a large red square"


def json_record(key, **fields):
    return {"url": f"http://example.org/{key}.jpg", "key": key, **fields}


def test_a_caption_key_naming_a_json_member_is_refused_with_its_fields(tmp_path):
    shard = write_shard(tmp_path / "00000.tar", [
        {"__key__": "000", "jpg": jpeg(), "json": json_record("000", caption=CAPTION, meta={"caption": NESTED},
                                                               width=8)}])
    with pytest.raises(ValueError, match=r"^webdataset\.caption_key: json holds a JSON object with fields caption, "
                                         r"key, meta, url, width: name the field, e\.g\. caption_key: json:caption "
                                         r"\(the first sample of .*00000\.tar, '000'\)$"):
        sources.check_webdataset([shard], "jpg", "json")
    # a txt member holding the same object is no caption either
    as_text = write_shard(tmp_path / "txt.tar", [{"__key__": "0", "jpg": jpeg(),
                                                  "txt": json.dumps({"alt": "x", "url": "u"})}])
    with pytest.raises(ValueError, match=r"caption_key: txt holds a JSON object with fields alt, url: name the field, "
                                         r"e\.g\. caption_key: txt:alt"):
        sources.check_webdataset([as_text], "jpg", "txt")
    # a field that is there and a string passes, nested or not
    sources.check_webdataset([shard], "jpg", "json:caption")
    sources.check_webdataset([shard], "jpg", "json:meta.caption")
    refused = {
        "json:capton": "field 'capton' of the json member is missing; its fields are: caption, key, meta, url, width",
        "json:meta.text": "field 'meta.text' of the json member is missing; the fields of meta are: caption",
        "json:width": "field 'width' of the json member is a number (8), not a string; its fields are: caption, key, "
                      "meta, url, width",
        "json:meta": "field 'meta' of the json member is an object, not a string",
        "json:caption.text": "caption in the json member is a string, not an object with fields",
        "jpg:caption": "the jpg member is not a JSON object",
    }
    for key, message in refused.items():
        with pytest.raises(ValueError, match=f"^webdataset\\.caption_key: {key}: "):
            sources.check_webdataset([shard], "jpg", key)
        with pytest.raises(ValueError) as error:
            sources.check_webdataset([shard], "jpg", key)
        assert message in str(error.value), key
    null = write_shard(tmp_path / "null.tar", [{"__key__": "0", "jpg": jpeg(), "json": json_record("0", caption=None)}])
    with pytest.raises(ValueError, match="field 'caption' of the json member is null; its fields are: caption, key"):
        sources.check_webdataset([null], "jpg", "json:caption")
    with pytest.raises(ValueError, match=r"has no 'json' \(webdataset.caption_key\) member; its members are: jpg, txt"):
        sources.check_webdataset([as_text], "jpg", "json:caption")
    for key in ("json:", ":caption", "json:meta..caption"):
        with pytest.raises(ValueError, match="is neither MEMBER .* nor MEMBER:FIELD.PATH"):
            sources.check_webdataset([shard], "jpg", key)


def test_caption_text_gives_the_field_or_the_reason_it_has_none():
    sample = {"__key__": "k", "json": json.dumps(json_record("k", caption=CAPTION, meta={"caption": NESTED})).encode(),
              "txt": b"  a caption, spaces kept  "}
    assert io.caption_text(sample, "json:caption") == CAPTION
    assert io.caption_text(sample, "json:meta.caption") == NESTED
    assert io.caption_text(sample, "txt") == "  a caption, spaces kept  "
    as_json = lambda value: json.dumps(value).encode()  # noqa: E731
    reasons = [
        ("json", as_json(json_record("k", caption=CAPTION)), "caption_is_json"),
        ("txt", b' {"caption": "a"}', "caption_is_json"),
        ("json:caption", as_json(json_record("k")), "missing_caption_field"),
        ("json:caption", as_json(json_record("k", caption=None)), "missing_caption_field"),
        ("json:caption", as_json(json_record("k", caption=["a", "b"])), "caption_not_text"),
        ("json:caption", as_json(json_record("k", caption=" ")), "empty_caption"),
        ("json:caption", b"not json", "caption_not_json"),
        ("json:caption", as_json(["a list"]), "caption_not_json"),
        ("txt", b"\xff\xfe", "not_utf8"),
        ("txt", None, "missing_caption"),
    ]
    for key, data, reason in reasons:
        members = {} if data is None else {key.partition(":")[0]: data}
        with pytest.raises(io.CaptionError) as error:
            io.caption_text({"__key__": "k", **members}, key)
        assert error.value.reason == reason, (key, data)
    assert io.caption_text({"__key__": "k", "txt": b"{a brace, not JSON}"}, "txt") == "{a brace, not JSON}"


def test_negate_and_pack_train_on_the_field_of_a_json_member_and_count_samples_without_it(tmp_path):
    png = jpeg(fmt="PNG")
    shard = write_shard(tmp_path / "00000.tar", [
        {"__key__": "a", "png": png, "json": json_record("a", caption=CAPTION, meta={"caption": NESTED})},
        {"__key__": "b", "png": png, "json": json_record("b")},  # a later sample without the field
        {"__key__": "c", "png": png, "json": json_record("c", caption=None, meta={"caption": None})},
        {"__key__": "d", "png": png, "json": json_record("d", caption=7, meta={"caption": {"en": NESTED}}),
         "txt": CAPTION}])
    synthesized = write_shard(tmp_path / "syn.tar", [{"__key__": k, "jpg": jpeg((0, 0, 255)),
                                                      "json": {"backend": "shapes"}} for k in "abcd"])
    for key, caption in (("json:caption", CAPTION), ("json:meta.caption", NESTED)):
        sources.check_webdataset([shard], "png", key)
        out = tmp_path / key.replace(":", "_")
        spec = {"input": shard, "negatives": str(out / "n.jsonl"), "stats": str(out / "n.json"), "negate": NEGATE,
                "seed": 0, "heldout_combos": 6, "caption_key": key}
        stats = job.run(spec)
        assert stats["in"] == 4 and stats["negated"] == 1
        assert stats["failed"] == {"missing_caption_field": 2, "caption_not_text": 1}, key
        rows = io.read_jsonl(out / "n.jsonl")
        assert [(r["key"], r["caption"], r["status"]) for r in rows] == [
            ("a", caption, "ok"), ("b", None, "missing_caption_field"), ("c", None, "missing_caption_field"),
            ("d", None, "caption_not_text")]
        # pack reads the caption through the same helper: the field's text is what training reads as txt
        stats = pack.pack_shard(shard, str(out / "n.jsonl"), synthesized, str(out / "p.tar"), str(out / "p.json"),
                                image_key="png", caption_key=key)
        assert stats["in"] == 4 and stats["packed"] == 1
        assert stats["dropped"] == {"missing_caption_field": 2, "caption_not_text": 1}, key
        [packed] = io.iter_shard(out / "p.tar")
        assert packed["__key__"] == "a" and packed["txt"] == caption.encode()
        assert json.loads(packed["json"])["source"]["url"] == "http://example.org/a.jpg"  # provenance kept


# ---------------------------------------------------------------------------------------------------------------
# The shapes world as COCO


def test_write_karpathy_writes_cocos_layout_that_the_coco_source_reads(tmp_path):
    out = tmp_path / "coco"
    world.write_karpathy(out, 6, 32, 0, 6, 0.2, third_object_rate=0.3, captions_per_image=3, val_images=2,
                         test_images=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["coco"]  # the staging folder is gone
    assert sorted(p.name for p in out.iterdir()) == ["dataset_coco.json", "train2014", "val2014"]
    assert sorted(p.name for p in (out / "train2014").iterdir()) == [f"COCO_train2014_{i:012d}.jpg"
                                                                     for i in range(1, 7)]
    assert sorted(p.name for p in (out / "val2014").iterdir()) == [f"COCO_val2014_{i:012d}.jpg" for i in (7, 8, 9)]
    annotations = str(out / "dataset_coco.json")
    assert sources.check_coco(annotations, str(out), ["train"]) == 18
    pairs = sources.coco_pairs(annotations, ["train", "val", "test"])
    assert len(pairs) == 27 and [p["split"] for p in pairs[18:]] == ["val"] * 6 + ["test"] * 3
    by_image = {}
    for pair in pairs:
        by_image.setdefault(pair["image"], []).append(pair["caption"])
        shapes.parse(pair["caption"])  # each a sentence of the world
    assert all(len(set(captions)) == 3 for captions in by_image.values())
    assert len({shapes.parse(c)[0] for captions in by_image.values() for c in captions}) == 9  # one scene per image
    # the same arguments give the same world; the source's pairs are not among these
    again = tmp_path / "again"
    assert world.main(["karpathy", str(again), "--images", "6", "--image-size", "32", "--seed", "0",
                       "--captions-per-image", "3", "--third-object-rate", "0.3", "--val-images", "2",
                       "--test-images", "1"]) == 0
    assert (again / "dataset_coco.json").read_bytes() == (out / "dataset_coco.json").read_bytes()
    world.write_source(str(tmp_path / "src"), str(tmp_path / "urls.tsv"), 6, 32, 0, 6, 0.2, 0.3)
    source_captions = {line.split("\t")[1] for line in (tmp_path / "urls.tsv").read_text(encoding="utf-8").splitlines()}
    assert not source_captions & {p["caption"] for p in pairs}
    stats = sources.write_coco_shard(annotations, str(out), ["train"], 0, 10, str(tmp_path / "s.tar"),
                                     str(tmp_path / "s.json"))
    assert stats["written"] == 10 and stats["dropped"] == {}
