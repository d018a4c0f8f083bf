"""The error browser (tripletclip/browse.py) on per-sample tables written by hand: 4 models on a tiny SugarCrepe-like
benchmark and a Winoground-like one, with shapes-world images. The page's data (each image once, the caps, nothing
fetched) is checked from its HTML; what a reader sees, in headless Chromium through selenium: the items a model gets
wrong after picking a benchmark, category and model in the select boxes, and the disagreements ordered by split.

The browser tests skip, saying why, where selenium, Chromium or chromedriver is missing or cannot start
(`scripts/chromium-local.sh install` installs Debian's; .ci/run does). With BROWSE_SCREENSHOT=PATH they also save
the page as the README shows it (docs/browse.png):
    BROWSE_SCREENSHOT=docs/browse.png .venv/bin/pytest tests/test_browse.py"""

import base64
import io as bytes_io
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from tripletclip import browse, shapes

# model label -> (model, seed): three trained runs, each seed its own model, and one evaluated as given (no seed)
MODELS = {"clip seed 0": ("clip", 0), "tripletclip seed 0": ("tripletclip", 0),
          "tripletclip seed 1": ("tripletclip", 1), "openai": ("openai", None)}
T, F, N = True, False, None  # N: that model did not score the item
ESCAPED = 'a large green star above a small yellow triangle & a "<b>bold</b>" word'
# (category, sample_id, image, caption, negative caption, verdict of each model in MODELS' order)
SUGARCREPE = [
    ("replace_att", "0", "a.jpg", "a small red circle left of a large blue square",
     "a small green circle left of a large blue square", (F, T, T, F)),
    ("replace_att", "1", "b.jpg", ESCAPED, "a large green star below a small yellow triangle", (F, F, F, T)),
    ("replace_att", "2", "c.jpg", "a small purple hexagon below a large orange diamond",
     "a small purple hexagon below a large red diamond", (T, T, T, T)),
    ("replace_att", "3", "a.jpg", "a small red circle left of a large blue square",
     "a small red circle left of a large yellow square", (F, F, F, F)),
    ("replace_att", "4", "d.jpg", "a small hollow gray square right of a large red star",
     "a small hollow gray square right of a large green star", (T, F, N, T)),
    ("replace_att", "5", "gone.jpg", "a small red circle above a large blue square",
     "a small red circle above a large purple square", (F, T, T, T)),
    ("swap_obj", "0", "b.jpg", "a large green star above a small yellow triangle",
     "a large yellow triangle above a small green star", (T, F, T, F)),
    ("swap_obj", "1", "c.jpg", "a small purple hexagon below a large orange diamond",
     "a small purple diamond below a large orange hexagon", (F, T, T, T)),
    ("swap_obj", "2", "d.jpg", "a small hollow gray square right of a large red star",
     "a small hollow gray star right of a large red square", (T, T, T, T)),
]
IMAGES = {"a.jpg": "a small red circle left of a large blue square",
          "b.jpg": "a large green star above a small yellow triangle",
          "c.jpg": "a small purple hexagon below a large orange diamond",
          "d.jpg": "a small hollow gray square right of a large red star"}
# (sample_id, caption 0, caption 1, verdict (group) of each model)
WINOGROUND = [("0", "a small red circle left of a large blue square",
               "a small blue circle left of a large red square", (F, T, T, F)),
              ("1", "a large green star above a small yellow triangle",
               "a large yellow star above a small green triangle", (F, F, F, F))]
# the disagreements, most split first: replace_att 0 (2 of 4 right), 4 (2 of 3), then 1 and 5 (1 of 4 wrong or
# right, in the benchmark's order); 2 and 3 are unanimous
DISAGREE = {("sugarcrepe", "replace_att"): ["0", "4", "1", "5"], ("sugarcrepe", "swap_obj"): ["0", "1"],
            ("winoground", "swap_att"): ["0"]}
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,900")


def _draw(caption: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shapes.render(shapes.parse(caption)[0], size=128, seed=path.name).save(path)


def tables(root: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """Every model's per-sample tables, concatenated as the report does (model, seed, benchmark), and the image
    folders."""
    for name, caption in IMAGES.items():
        _draw(caption, root / "coco" / name)
    for sid, caption_0, caption_1, _ in WINOGROUND:
        for k, caption in enumerate((caption_0, caption_1)):
            _draw(caption, root / "winoground" / "images" / f"ex_{sid}_img_{k}.png")
    rows = []
    for m, (model, seed) in enumerate(MODELS.values()):
        for i, (category, sid, image, caption, negative, verdicts) in enumerate(SUGARCREPE):
            if verdicts[m] is None:
                continue
            positive = 0.30 + 0.01 * i + 0.001 * m
            rows.append(dict(model=model, seed=seed, benchmark="sugarcrepe", category=category, sample_id=sid,
                             correct=verdicts[m], score_positive=positive,
                             score_negative=positive + (-0.02 if verdicts[m] else 0.02), image=image,
                             caption=caption, negative_caption=negative))
        for sid, caption_0, caption_1, verdicts in WINOGROUND:
            rows.append(dict(model=model, seed=seed, benchmark="winoground", category="swap_att", sample_id=sid,
                             correct=verdicts[m], c0_i0=0.31, c0_i1=0.29 if verdicts[m] else 0.33, c1_i0=0.28,
                             c1_i1=0.30, text_correct=verdicts[m], image_correct=True, group_correct=verdicts[m],
                             caption_0=caption_0, caption_1=caption_1, image_0=f"ex_{sid}_img_0",
                             image_1=f"ex_{sid}_img_1"))
        rows.append(dict(model=model, seed=seed, benchmark="similarity", category="text", sample_id="k0",
                         cosine=0.5, caption="a caption", negative_caption="a negative"))
    samples = pd.DataFrame(rows).astype({"seed": "Int64"})
    return samples, {"sugarcrepe": str(root / "coco"), "winoground": str(root / "winoground" / "images")}


def wrong_ids(samples: pd.DataFrame, benchmark: str, category: str, label: str) -> list[str]:
    model, seed = MODELS[label]
    pick = ((samples["benchmark"] == benchmark) & (samples["category"] == category) & (samples["model"] == model)
            & (samples["seed"].isna() if seed is None else samples["seed"] == seed))
    return samples.loc[pick & (samples["correct"] == False), "sample_id"].tolist()  # noqa: E712 (NaN: not scored)


def page_data(text: str) -> dict:
    blob = re.search(r'<script type="application/json" id="data">(.*?)</script>', text, re.S).group(1)
    return json.loads(blob)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    root = tmp_path_factory.mktemp("browse")
    samples, roots = tables(root)
    out = root / "report" / "browse.html"
    browse.write_browser(samples, roots, str(out), title="Errors <of> the tiny models")
    return samples, roots, out


def test_page_embeds_each_image_once_and_fetches_nothing(page):
    samples, _, out = page
    text = out.read_text(encoding="utf-8")
    data = page_data(text)
    # nothing to fetch: no URL, and the Content-Security-Policy forbids every request but data: images
    assert not re.search(r"\b(https?|wss?|ftp):", text, re.I)
    assert "default-src 'none'" in text and "<title>Errors &lt;of&gt; the tiny models</title>" in text
    # captions travel as JSON with < > & escaped: nothing of theirs can close the script or become markup
    assert "<b>bold" not in text and "\\u003cb\\u003ebold" in text
    assert [b["name"] for b in data["benchmarks"]] == ["sugarcrepe", "winoground"]
    assert [b["name"] for b in data["left_out"]] == ["similarity"]
    assert data["benchmarks"][0]["models"] == list(MODELS)
    # a.jpg..d.jpg and the four Winoground pictures, each once, however many items show them
    assert len(data["images"]) == len(IMAGES) + 2 * len(WINOGROUND)
    assert all(text.count(uri) == 1 for uri in data["images"])
    for uri in data["images"]:
        assert uri.startswith("data:image/jpeg;base64,")
        with Image.open(bytes_io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as image:
            assert max(image.size) == 96
    slots = {item["id"]: item["images"][0] for item in data["benchmarks"][0]["categories"][0]["items"]}
    assert slots["5"] == ["gone.jpg", None, "not found"]
    assert slots["0"][1] == slots["3"][1] is not None  # a.jpg, shown by both


def test_caps_on_items_and_images(tmp_path):
    samples, roots = tables(tmp_path)
    out = tmp_path / "browse.html"
    browse.write_browser(samples, roots, str(out), max_per_view=1, thumbnail=32, max_images=2)
    data = page_data(out.read_text(encoding="utf-8"))
    assert len(data["images"]) == 2 and data["max_per_view"] == 1
    replace_att = data["benchmarks"][0]["categories"][0]
    assert [w["total"] for w in replace_att["wrong"]] == [4, 3, 2, 2]  # counted in full, shown one each
    assert all(len(w["shown"]) == 1 for w in replace_att["wrong"]) and replace_att["disagree"]["total"] == 4
    reasons = [slot[2] for b in data["benchmarks"] for c in b["categories"] for item in c["items"]
               for slot in item["images"]]
    assert "past the page's 2 images" in reasons


def test_two_rows_of_one_model_for_an_item_fail(tmp_path):
    samples, roots = tables(tmp_path)
    unnamed_seeds = samples.assign(seed=pd.NA)  # tripletclip's two seeds now read as one model
    with pytest.raises(ValueError, match="tripletclip has several rows"):
        browse.write_browser(unnamed_seeds, roots, str(tmp_path / "browse.html"))


def test_no_evaluation_gives_a_page_that_says_so(tmp_path):
    browse.write_browser(pd.DataFrame(), {}, str(tmp_path / "browse.html"))
    data = page_data((tmp_path / "browse.html").read_text(encoding="utf-8"))
    assert data["benchmarks"] == [] and data["images"] == []


# ---------------------------------------------------------------------------------------------------------------
# In Chromium


def _why_no_browser() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for tool in ("chromium", "chromedriver"):
        if not shutil.which(tool):
            return f"{tool} not installed: `scripts/chromium-local.sh install` (.ci/run does)"
    return None


@pytest.fixture(scope="module")
def driver():
    reason = _why_no_browser()
    if reason:
        pytest.skip(f"no headless Chromium: {reason}")
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="browse-chromium-")  # a fresh profile: nothing from an earlier run
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console: JS errors, CSP violations
    try:
        chrome = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    except WebDriverException as error:
        shutil.rmtree(profile, ignore_errors=True)
        pytest.skip(f"no headless Chromium: it does not start ({error.msg or error})")
    chrome.set_page_load_timeout(30)
    try:
        yield chrome
    finally:
        chrome.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _choose(chrome, select_id: str, value: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(chrome.find_element(By.ID, select_id)).select_by_value(value)


def _rows(chrome) -> list:
    from selenium.webdriver.common.by import By

    return chrome.find_elements(By.CSS_SELECTOR, "#items tbody tr")


def test_a_models_wrong_items_in_chromium(page, driver, tmp_path):
    from selenium.webdriver.common.by import By

    samples, _, out = page
    driver.get(out.as_uri())
    assert driver.title == "Errors <of> the tiny models"
    for benchmark, categories in (("sugarcrepe", ("replace_att", "swap_obj")), ("winoground", ("swap_att",))):
        _choose(driver, "benchmark", benchmark)
        for category in categories:
            _choose(driver, "category", category)
            for label in MODELS:
                _choose(driver, "model", label)
                rows = _rows(driver)
                assert [r.get_attribute("data-sample-id") for r in rows] == wrong_ids(samples, benchmark, category,
                                                                                       label), (category, label)
                assert {(r.get_attribute("data-category"), r.get_attribute("data-model")) for r in rows} <= {
                    (category, label)}
                summary = driver.find_element(By.ID, "summary").text
                assert summary.startswith(f"{label} gets {len(rows)} of the ")

    # one row in full: the image, both captions as written, the model's scores, the others' verdicts
    _choose(driver, "benchmark", "sugarcrepe")
    _choose(driver, "category", "replace_att")
    _choose(driver, "model", "tripletclip seed 0")
    row = next(r for r in _rows(driver) if r.get_attribute("data-sample-id") == "1")
    image = row.find_element(By.CSS_SELECTOR, "img")
    assert driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) == 96
    assert row.find_element(By.CSS_SELECTOR, ".text.caption").text == f"caption: {ESCAPED}"
    assert len(row.find_elements(By.CSS_SELECTOR, ".text.caption b")) == 1  # the label's: "<b>" stayed text
    assert row.find_element(By.CSS_SELECTOR, ".text.negative_caption").text.endswith("star below a small yellow "
                                                                                    "triangle")
    assert row.find_element(By.CSS_SELECTOR, "dd.score_positive").text == "0.3110"
    assert row.find_element(By.CSS_SELECTOR, "dd.score_negative").text == "0.3310"
    verdicts = {v.get_attribute("data-model"): v.get_attribute("data-verdict")
                for v in row.find_elements(By.CSS_SELECTOR, ".verdict")}
    assert verdicts == {"clip seed 0": "wrong", "tripletclip seed 1": "wrong", "openai": "right"}
    # an image that is not there says so instead
    _choose(driver, "model", "clip seed 0")
    row = next(r for r in _rows(driver) if r.get_attribute("data-sample-id") == "5")
    assert row.find_element(By.CSS_SELECTOR, ".missing").text == "gone.jpg (not found)"
    # Winoground: both images
    _choose(driver, "benchmark", "winoground")
    assert len(_rows(driver)[0].find_elements(By.CSS_SELECTOR, "img")) == 2

    # nothing was fetched, nothing went wrong in the page's script
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    driver.save_screenshot(str(tmp_path / "wrong.png"))
    assert (tmp_path / "wrong.png").stat().st_size > 0


def test_where_models_disagree_in_chromium(page, driver, tmp_path):
    from selenium.webdriver.common.by import By

    _, roots, out = page
    driver.get(out.as_uri())
    _choose(driver, "view", "disagree")
    assert not driver.find_element(By.ID, "model").is_displayed()  # every model's verdict is shown
    for (benchmark, category), expected in DISAGREE.items():
        _choose(driver, "benchmark", benchmark)
        _choose(driver, "category", category)
        rows = _rows(driver)
        assert [r.get_attribute("data-sample-id") for r in rows] == expected, category
        splits = [min(right, scored - right) / scored for right, scored in
                  ((int(r.get_attribute("data-right")), int(r.get_attribute("data-scored"))) for r in rows)]
        assert splits == sorted(splits, reverse=True) and all(s > 0 for s in splits)
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    driver.save_screenshot(str(tmp_path / "disagree.png"))

    if os.environ.get("BROWSE_SCREENSHOT"):  # the README's picture: one model's wrong SugarCrepe items
        readme = tmp_path / "readme.html"
        browse.write_browser(page[0], roots, str(readme))  # the default title
        driver.get(readme.as_uri())
        _choose(driver, "benchmark", "sugarcrepe")
        _choose(driver, "category", "replace_att")
        _choose(driver, "model", "clip seed 0")
        driver.save_screenshot(os.environ["BROWSE_SCREENSHOT"])
