"""Inputs as users really have them, each made by hand in its real layout: URL lists without a header row, captions
with quotes, shards with dotted or scattered keys, non-UTF-8 locales, every intermediate output under `inspect`."""

import json
import os
from io import BytesIO
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from PIL import Image

from helpers.dag import REPO, SNAKEMAKE, tiny_config
from tripletclip import data, download, inspect, io, pack, tables
from tripletclip.evals import similarity
from tripletclip.negate import captions as captions_io

# Captions that a CSV reader, or a reader that guesses the encoding, gets wrong.
CAPTIONS = ['"the best" red car of the show', "\"the world's tallest tree", "jalapeños at a café",
            'a sign that says "stop"', "tab-free caption with a trailing quote\""]


def png(path: Path, shade: int) -> str:
    Image.new("RGB", (24, 24), (shade, 40, 200 - shade)).save(path)
    return path.as_uri()


@pytest.fixture(scope="module")
def cc3m(tmp_path_factory):
    """CC3M as Google ships it: caption<TAB>url, no header, plus a malformed row and a row that is not UTF-8; downloaded
    once with img2dataset."""
    root = tmp_path_factory.mktemp("cc3m")
    rows = [f"{caption}\t{png(root / f'{i}.png', 30 * i)}".encode() for i, caption in enumerate(CAPTIONS)]
    rows.insert(2, b"a row\twith three\tfields")  # data row 2, line 3
    rows.insert(4, b"caf\xe9 in latin-1\t" + (root / "0.png").as_uri().encode())  # data row 4
    (root / "cc3m.tsv").write_bytes(b"\n".join(rows) + b"\n")
    started = time.monotonic()
    stats = download.download(str(root / "cc3m.tsv"), str(root / "out"), 16, 24, threads=2,
                              expected_shards=["00000"], num_samples=len(CAPTIONS))
    return root, stats, time.monotonic() - started


def test_a_headerless_url_list_downloads_every_caption_byte_for_byte(cc3m):
    root, stats, _ = cc3m
    assert stats["successes"] == len(CAPTIONS)
    assert stats["url_list"]["header"] is False
    assert stats["url_list"]["skipped"] == {"malformed": 1, "not_utf8": 1}
    assert stats["url_list"]["malformed_lines"] == ["line 3: 3 fields, expected 2"]
    downloaded = {s["__key__"]: s["txt"] for s in io.iter_shard(root / "out" / "00000.tar")}
    assert [downloaded[k] for k in sorted(downloaded)] == [c.encode() for c in CAPTIONS]


def test_the_negate_stage_reads_a_table_as_the_download_stage_does(cc3m):
    root, _, _ = cc3m
    records = captions_io.read(str(root / "cc3m.tsv"), caption_col="caption")
    assert [r.caption for r in records if r.problem is None] == CAPTIONS
    assert {r.key: r.problem for r in records if r.problem} == {"2": "malformed_row", "4": "not_utf8"}


def test_header_rows_and_column_orders_are_told_apart(tmp_path):
    url = "https://example.com/a.jpg"
    (tmp_path / "cc12m.tsv").write_text(f"{url}\ta caption\n{url}\tanother\n", encoding="utf-8")
    (tmp_path / "header.tsv").write_text(f"url\tcaption\n{url}\ta caption\n", encoding="utf-8")
    (tmp_path / "three.tsv").write_text(f"a caption\t{url}\t1\n", encoding="utf-8")
    (tmp_path / "quoted.csv").write_text(f'caption,url\n"a caption, with a comma",{url}\n', encoding="utf-8")
    cc12m = tables.read(tmp_path / "cc12m.tsv")
    assert not cc12m.header and cc12m.data.to_pydict() == {"url": [url] * 2, "caption": ["a caption", "another"]}
    header = tables.read(tmp_path / "header.tsv")
    assert header.header and header.data.to_pydict() == {"url": [url], "caption": ["a caption"]}
    # a header row forced off reads the header as a row; a headerless file with three columns needs their names
    assert tables.read(tmp_path / "header.tsv", header=False, columns=["url", "caption"]).data.num_rows == 2
    with pytest.raises(ValueError, match=r"no header row and 3 columns: name them \(download.columns"):
        tables.read(tmp_path / "three.tsv")
    named = tables.read(tmp_path / "three.tsv", columns=["caption", "url", "n"])
    assert named.data.to_pylist() == [{"caption": "a caption", "url": url, "n": "1"}]
    assert tables.read(tmp_path / "quoted.csv").data.column("caption").to_pylist() == ["a caption, with a comma"]


def test_malformed_blank_and_windows_lines_are_counted_under_their_numbers(tmp_path):
    url = "https://example.com/a.jpg"
    (tmp_path / "odd.tsv").write_bytes(f"a\t{url}\r\nb\textra\t{url}\n\n\"c\t{url}\nd\t{url}\n".encode())
    table = tables.read(tmp_path / "odd.tsv")
    assert table.data.to_pydict() == {"caption": ["a", '"c', "d"], "url": [url] * 3}
    assert table.malformed == ["line 2: 3 fields, expected 2", "line 3: blank"]
    assert table.skipped_rows == {1: "malformed", 2: "malformed"} and table.row_numbers() == [0, 3, 4]
    assert tables.read(tmp_path / "odd.tsv", head=2).data.num_rows == 1  # the column check's first lines


def test_a_bom_a_carriage_return_in_a_caption_and_multiline_csv_records(tmp_path):
    url = "https://example.com/a.jpg"
    (tmp_path / "bom.tsv").write_bytes(b"\xef\xbb\xbfcaption\turl\n" + f"a cat\t{url}\n".encode())
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbfcaption,url\r\n" + f'"a car, parked",{url}\r\n"two\nlines",'
                                       f"{url}\r\nbad\r\n".encode())
    (tmp_path / "cr.tsv").write_bytes(f"a sign reading\rOPEN all night\t{url}\nb\t{url}\n".encode())
    assert tables.read(tmp_path / "bom.tsv").data.to_pydict() == {"caption": ["a cat"], "url": [url]}
    csv_table = tables.read(tmp_path / "bom.csv")  # Excel's "CSV UTF-8"
    assert csv_table.data.column("caption").to_pylist() == ["a car, parked", "two\nlines"]
    assert csv_table.malformed == ["line 5: 1 fields, expected 2"]  # the line the record starts on
    for head in (None, 2):  # the column check before any job reads the first lines as the job reads the file
        assert tables.read(tmp_path / "cr.tsv", head=head).data.column("caption").to_pylist()[0] == \
            "a sign reading\rOPEN all night"


def test_the_negate_command_line_reads_any_table_the_download_stage_reads(tmp_path):
    (tmp_path / "kc.tsv").write_text("k1\ta red car next to a house\nk2\ta blue boat on a lake\n", encoding="utf-8")
    command = [sys.executable, "-m", "tripletclip.negate", str(tmp_path / "kc.tsv"), "-o", str(tmp_path / "n.jsonl")]
    refused = subprocess.run(command, capture_output=True, encoding="utf-8")
    assert refused.returncode == 2 and "no column 'caption'" in refused.stderr  # no URL: its first row is a header
    subprocess.run([*command, "--header", "false", "--columns", "key", "caption", "--key-col", "key"], check=True,
                   capture_output=True)
    assert [(r["key"], r["caption"]) for r in io.read_jsonl(tmp_path / "n.jsonl")] == \
        [("k1", "a red car next to a house"), ("k2", "a blue boat on a lake")]


def test_a_url_list_without_the_configured_columns_fails_in_seconds_naming_them(tmp_path):
    (tmp_path / "list.tsv").write_text("image_url\ttext\nhttps://example.com/a.jpg\ta cat\n", encoding="utf-8")
    started = time.monotonic()
    with pytest.raises(ValueError) as error:
        download.download(str(tmp_path / "list.tsv"), str(tmp_path / "out"), 16, 24, expected_shards=["00000"])
    assert time.monotonic() - started < 10
    message = str(error.value)
    assert "['image_url', 'text']" in message and "download.url_col: 'url'" in message
    assert "download.caption_col: 'caption'" in message
    # the same check before any job of the DAG runs
    config = tiny_config()
    config["source"] = "tsv"
    config["download"].update(url_list=str(tmp_path / "list.tsv"), num_samples=1)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    dry = subprocess.run([*SNAKEMAKE, "--directory", str(tmp_path), "-n", "all"], capture_output=True,
                         encoding="utf-8", timeout=300)
    assert dry.returncode != 0 and "['image_url', 'text']" in dry.stdout + dry.stderr


# ---------------------------------------------------------------------------------------------------------------
# Shards: keys with dots, files of a sample scattered through the tar


def _tar(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, BytesIO(payload))


def _jpeg(shade: int) -> bytes:
    return io.encode_jpeg(Image.new("RGB", (24, 24), (shade, 90, 20)))


DOTTED = {"photo_v1.0": "a red car", "shot.a": "a blue boat", "shot.b": "a green bus"}


def test_keys_with_dots_are_read_as_their_own_samples(tmp_path):
    members = {}
    for i, (key, caption) in enumerate(DOTTED.items()):
        members |= {f"{key}.jpg": _jpeg(40 * i), f"{key}.txt": caption.encode()}
    _tar(tmp_path / "dotted.tar", members)
    samples = list(io.iter_shard(tmp_path / "dotted.tar"))
    assert {s["__key__"]: s["txt"].decode() for s in samples} == DOTTED
    assert all(set(s) == {"__key__", "__url__", "jpg", "txt"} for s in samples)
    # and through every stage that reads a shard: negate (its command line), pack, inspect
    out = subprocess.run([sys.executable, "-m", "tripletclip.negate", str(tmp_path / "dotted.tar"), "-o",
                          str(tmp_path / "neg.jsonl")], capture_output=True, encoding="utf-8", check=True)
    assert json.loads(out.stdout.splitlines()[-1])["in"] == 3
    assert [r["key"] for r in io.read_jsonl(tmp_path / "neg.jsonl")] == sorted(DOTTED)
    with io.shard_writer(tmp_path / "syn.tar") as sink:  # our writer, given the keys it was given
        for key in DOTTED:
            sink.write({"__key__": key, "jpg": _jpeg(200), "json": {"backend": "shapes"}})
    stats = pack.pack_shard(str(tmp_path / "dotted.tar"), str(tmp_path / "neg.jsonl"), str(tmp_path / "syn.tar"),
                            str(tmp_path / "packed.tar"), str(tmp_path / "packed.json"))
    packed = {s["__key__"]: s["txt"].decode() for s in io.iter_shard(tmp_path / "packed.tar")}
    negated = {r["key"] for r in io.read_jsonl(tmp_path / "neg.jsonl") if r["status"] == "ok"}
    assert stats["in"] == 3 and stats["packed"] == len(negated) >= 2
    assert packed == {k: DOTTED[k] for k in negated}


def test_triplet_shards_with_dotted_keys_reach_training_and_the_similarity_analysis(tmp_path):
    members = {}
    for i, (key, caption) in enumerate(DOTTED.items()):
        members |= {f"{key}.jpg": _jpeg(40 * i), f"{key}.txt": caption.encode(),
                    f"{key}.neg.jpg": _jpeg(250 - 40 * i), f"{key}.neg.txt": f"not {caption}".encode()}
    _tar(tmp_path / "triplets.tar", members)
    batches = data.TripletBatches([str(tmp_path / "triplets.tar")], 1, None, None, seed=0, epoch=0)
    rows = list(batches.triplets([str(tmp_path / "triplets.tar")]))
    assert [(r[0].split("#")[1], r[2].decode(), r[4].decode()) for r in rows] == \
        [(k, c, f"not {c}") for k, c in DOTTED.items()]
    images, texts, neg_images, neg_texts, counts = similarity.load([tmp_path / "triplets.tar"], 10)
    assert texts == list(DOTTED.values()) and neg_texts == [f"not {c}" for c in DOTTED.values()]
    assert counts["skipped"] == 0 and len(images) == len(neg_images) == 3


def test_a_tar_made_by_hand_with_scattered_files_is_read_by_key(tmp_path):
    for i, key in enumerate(("a", "b", "c")):
        Image.new("RGB", (24, 24), (80 * i, 0, 0)).save(tmp_path / f"{key}.jpg")
        (tmp_path / f"{key}.txt").write_text(f"a red square number {i}", encoding="utf-8")
    subprocess.run("tar cf shard.tar *.jpg *.txt", shell=True, cwd=tmp_path, check=True)
    names = tarfile.open(tmp_path / "shard.tar").getnames()
    assert names == ["a.jpg", "b.jpg", "c.jpg", "a.txt", "b.txt", "c.txt"]  # as people make them
    samples = list(io.iter_shard(tmp_path / "shard.tar"))
    assert [(s["__key__"], sorted(k for k in s if not k.startswith("__"))) for s in samples] == \
        [(k, ["jpg", "txt"]) for k in "abc"]
    out = subprocess.run([sys.executable, "-m", "tripletclip.negate", str(tmp_path / "shard.tar"), "-o",
                          str(tmp_path / "neg.jsonl")], capture_output=True, encoding="utf-8", check=True)
    stats = json.loads(out.stdout.splitlines()[-1])
    assert stats["in"] == 3 and stats["negated"] == 3
    assert [r["key"] for r in io.read_jsonl(tmp_path / "neg.jsonl")] == ["a", "b", "c"]


def test_a_duplicate_member_and_a_nameless_one_are_reported(tmp_path):
    _tar(tmp_path / "odd.tar", {"a.txt": b"first", "b.txt": b"other", "README": b"no extension"})
    with tarfile.open(tmp_path / "odd.tar", "a") as tar:
        info = tarfile.TarInfo("a.txt")
        info.size = 6
        tar.addfile(info, BytesIO(b"second"))
    errors = []
    samples = {s["__key__"]: s["txt"] for s in io.iter_shard(tmp_path / "odd.tar", errors)}
    assert samples == {"a": b"first", "b": b"other"}
    assert any("'README' has no key or no extension" in e for e in errors)
    assert any("'a.txt' appears twice: the first is kept" in e for e in errors)


def test_links_in_a_tar_are_read_through_or_reported_and_a_gzipped_shard_is_a_shard(tmp_path):
    (tmp_path / "a.jpg").write_bytes(_jpeg(10))
    (tmp_path / "a.txt").write_text("a red square", encoding="utf-8")
    (tmp_path / "out").mkdir()
    for name in ("a.jpg", "a.txt"):
        (tmp_path / "out" / name).symlink_to(tmp_path / name)
    subprocess.run("tar cf ../links.tar a.jpg a.txt", shell=True, cwd=tmp_path / "out", check=True)
    subprocess.run("tar cf dup.tar a.jpg a.txt a.txt && tar czf shard.tar.gz a.jpg a.txt", shell=True, cwd=tmp_path,
                   check=True)
    errors = []
    assert list(io.iter_shard(tmp_path / "links.tar", errors)) == []  # links to files outside the tar
    assert len(errors) == 1 and "which is not a file in the tar" in errors[0]
    errors = []
    assert [s["txt"] for s in io.iter_shard(tmp_path / "dup.tar", errors)] == [b"a red square"]
    assert any("'a.txt' appears twice" in e for e in errors)  # tar stores the second as a hard link
    out = subprocess.run([sys.executable, "-m", "tripletclip.negate", str(tmp_path / "shard.tar.gz"), "-o",
                          str(tmp_path / "neg.jsonl")], capture_output=True, encoding="utf-8", check=True)
    assert json.loads(out.stdout.splitlines()[-1])["negated"] == 1


# ---------------------------------------------------------------------------------------------------------------
# Text files are UTF-8 under any locale


ASCII_LOCALE = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}


def test_text_files_are_read_and_written_as_utf8_under_an_ascii_locale(tmp_path):
    caption = "jalapeños at a café"
    (tmp_path / "captions.txt").write_text(f"{caption}\nA red stop sign.\n", encoding="utf-8")
    bench = tmp_path / "sugarcrepe"
    bench.mkdir()
    for category in ("replace_obj", "replace_att", "replace_rel", "swap_obj", "swap_att", "add_obj", "add_att"):
        io.write_json(bench / f"{category}.json", {"0": {"filename": "x.jpg", "caption": caption,
                                                         "negative_caption": "naïve crème brûlée"}})
    code = f"""
import locale, sys
assert locale.getpreferredencoding(False) == "ANSI_X3.4-1968", locale.getpreferredencoding(False)
from tripletclip.negate.__main__ import main
from tripletclip.evals import sugarcrepe
from tripletclip import inspect
assert main(["{tmp_path / 'captions.txt'}", "-o", "{tmp_path / 'neg.jsonl'}", "-k", "2"]) == 0
assert inspect.main(["{tmp_path / 'neg.jsonl'}"]) == 0
print(sugarcrepe.load("{bench}")["add_att"]["0"]["negative_caption"].encode("unicode_escape").decode())
"""
    env = {**os.environ, **ASCII_LOCALE}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")[-3000:]
    rows = io.read_jsonl(tmp_path / "neg.jsonl")
    assert rows[0]["caption"] == caption and rows[0]["status"] == "ok"
    assert done.stdout.decode("ascii").splitlines()[-1] == "na\\xefve cr\\xe8me br\\xfbl\\xe9e"


def test_every_text_file_is_opened_with_an_explicit_encoding():
    from helpers.encoding import unspecified_encodings

    found = [f"{path.relative_to(REPO)}:{line}: {what}"
             for folder in ("tripletclip", "workflow_scripts", "benchmarks", "tests", "scripts")
             for path in sorted((REPO / folder).rglob("*.py"))
             for line, what in unspecified_encodings(path)]
    assert found == []


# ---------------------------------------------------------------------------------------------------------------
# inspect reads every intermediate output


def test_inspect_reads_every_intermediate_output_and_names_what_it_expected(tmp_path, capsys):
    rows = [{"key": "0", "caption": "A red stop sign.", "backend": "rules", "attempts": 1, "status": "ok",
             "negatives": [{"text": "A blue stop sign.", "type": "replace_att"},
                           {"text": "A red stop sign and a dog.", "type": "add_obj"}]},
            {"key": "1", "caption": "", "backend": "rules", "attempts": 0, "status": "empty_caption", "negatives": []}]
    io.write_jsonl(tmp_path / "00000.jsonl", rows)
    assert inspect.main([str(tmp_path / "00000.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "2 captions: 1 empty_caption, 1 ok" in out
    assert "negative  [replace_att] A blue stop sign." in out
    assert "negative  [add_obj] A red stop sign and a dog." in out
    io.write_json(tmp_path / "eval.json", {"benchmark": "sugarcrepe", "method": "clip", "seed": 0,
                                           "metrics": {"avg": 81.25, "add_att": 90.0}, "details": {}})
    assert inspect.main([str(tmp_path / "eval.json")]) == 0
    out = capsys.readouterr().out
    assert "sugarcrepe: clip seed 0" in out and "81.2500" in out
    io.write_json(tmp_path / "scores.json", {"a": {"pos": 0.3, "neg": 0.1, "score": 0.2},
                                             "b": {"pos": 0.5, "neg": 0.3, "score": 0.4}})
    assert inspect.main([str(tmp_path / "scores.json")]) == 0
    assert "filter scores of 2 triplets: min 0.2000, median 0.3000, max 0.4000" in capsys.readouterr().out
    io.write_json(tmp_path / "00000_stats.json", {"in": 2, "negated": 1, "failed": {"empty_caption": 1}})
    assert inspect.main([str(tmp_path / "00000_stats.json")]) == 0
    assert '"negated": 1' in capsys.readouterr().out
    pd.DataFrame({"url": ["file:///a.png"], "caption": ["a cat"]}).to_parquet(tmp_path / "00000.parquet")
    assert inspect.main([str(tmp_path / "00000.parquet"), "-n", "1"]) == 0
    assert "1 rows, columns ['url', 'caption']" in capsys.readouterr().out
    for name, content in (("notes.txt", "hello"), ("other.json", '{"x": 1}'), ("broken.jsonl", "{not json")):
        (tmp_path / name).write_text(content, encoding="utf-8")
        assert inspect.main([str(tmp_path / name)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "expected a webdataset .tar shard, the negate stage's .jsonl" in err
    (tmp_path / "fake.tar").write_text("not a tar", encoding="utf-8")
    assert inspect.main([str(tmp_path / "fake.tar")]) == 2
    assert "holds no readable sample" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------------
# What a newcomer meets


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_outputs_are_as_readable_as_the_umask_allows(tmp_path, umask):
    old = os.umask(umask)
    try:
        io.write_json(tmp_path / "a.json", {"a": 1})
        with io.shard_writer(tmp_path / "a.tar") as sink:
            sink.write({"__key__": "k", "txt": "x"})
    finally:
        os.umask(old)
    for name in ("a.json", "a.tar"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask


NETWORK = ("urllib.Request", "socket.getaddrinfo", "socket.connect")
WATCH = f"""
import sys
seen = []
def hook(event, args):
    if event in {NETWORK!r}:
        seen.append(event)
        raise RuntimeError("no network in the tests")  # the attempt is recorded, never made
sys.addaudithook(hook)
"""


def test_no_import_reaches_for_the_network_whoever_starts_the_process():
    env = {k: v for k, v in os.environ.items()
           if k not in ("NO_ALBUMENTATIONS_UPDATE", "WANDB_MODE", "HF_HUB_DISABLE_TELEMETRY")}
    # the control: albumentations (img2dataset's resizer imports it) asks the network for its version on import
    control = subprocess.run([sys.executable, "-W", "ignore", "-c", WATCH + "import albumentations\nprint(seen)"],
                             capture_output=True, encoding="utf-8", env=env, check=True)
    assert "urllib.Request" in control.stdout
    every_module = WATCH + """
import pkgutil, importlib, tripletclip
for module in pkgutil.walk_packages(tripletclip.__path__, "tripletclip."):
    if not module.name.endswith("__main__"):
        importlib.import_module(module.name)
import img2dataset.resizer, open_clip, diffusers, transformers
print(seen)
"""
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", every_module], capture_output=True,
                          encoding="utf-8", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_train_help_describes_its_spec():
    out = subprocess.run([sys.executable, "-m", "tripletclip.train", "--help"], capture_output=True,
                         encoding="utf-8", check=True).stdout
    for field in ('"shards"', '"output_dir"', '"method"', '"seed"', '"val_shard"', '"train"', "launch.json"):
        assert field in out


def test_negating_a_finished_output_again_does_nothing(tmp_path):
    (tmp_path / "captions.txt").write_text("A red stop sign.\nA black cat on a bench.\n", encoding="utf-8")
    command = [sys.executable, "-m", "tripletclip.negate", str(tmp_path / "captions.txt"), "-o",
               str(tmp_path / "neg.jsonl"), "-k", "2"]
    subprocess.run(command, check=True, capture_output=True)
    before = (tmp_path / "neg.jsonl").stat().st_mtime_ns, (tmp_path / "neg.jsonl").read_bytes()
    again = subprocess.run(command, check=True, capture_output=True, encoding="utf-8")
    assert "nothing to do" in again.stderr
    assert ((tmp_path / "neg.jsonl").stat().st_mtime_ns, (tmp_path / "neg.jsonl").read_bytes()) == before
    # other settings are other negatives: all of it again
    other = subprocess.run([*command[:-1], "1"], check=True, capture_output=True, encoding="utf-8")
    assert "nothing to do" not in other.stderr
    assert all(len(r["negatives"]) == 1 for r in io.read_jsonl(tmp_path / "neg.jsonl"))
