"""`make report`: one HTML page from the notebooks, figures and recorded values, opened in headless
Chromium: it loads, every image loads, every link resolves."""

import fnmatch
import html
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdfnets import paths
from sdfnets.repro import execute as notebooks
from sdfnets.repro import report

BROWSER = pytest.mark.skipif(not (shutil.which("chromium") and shutil.which("chromedriver")),
                             reason="needs chromium and chromedriver (apt-get install chromium chromium-driver)")


def _chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        opts.add_argument(a)
    opts.binary_location = shutil.which("chromium")
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


@pytest.mark.slow
def test_report_lists_every_notebook_and_its_findings(tmp_path, monkeypatch):
    assert [r.status for r in notebooks.run_all("smoke", only="00", echo=lambda *_: None)][0] in ("ran", "fresh")
    only_00 = tmp_path / "figures"  # notebook 00's values and figures alone, whatever else this session ran
    (only_00 / "values").mkdir(parents=True)
    shutil.copy(paths.values_path("00_data_foundation", "smoke"), only_00 / "values")
    shutil.copytree(paths.figures_dir() / "smoke" / "00_data_foundation", only_00 / "smoke" / "00_data_foundation")
    monkeypatch.setenv("SDFNETS_FIGURES_DIR", str(only_00))
    page = report.build("smoke", out=tmp_path / "report")
    text = page.read_text()
    for src in notebooks.list_notebooks():
        assert f'id="{src.stem}"' in text
    assert "every recorded number" in text and "Not run at scale" in text  # 00 ran; most others did not here
    assert (page.parent / "figures" / "00_data_foundation").is_dir()


@BROWSER
def test_report_opens_in_a_browser_with_every_image_and_link():
    from selenium.webdriver.common.by import By

    notebooks.run_all("smoke", only="00", echo=lambda *_: None)
    page = report.build("smoke")
    driver = _chromium()
    try:
        driver.get(page.as_uri())
        assert "report" in driver.title
        imgs = driver.find_elements(By.TAG_NAME, "img")
        assert imgs, "the smoke run of notebook 00 saved figures"
        broken = [i.get_attribute("src") for i in imgs
                  if not driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", i)]
        assert not broken, broken
        for a in driver.find_elements(By.TAG_NAME, "a"):
            href = a.get_attribute("href") or ""
            url = urlparse(href)
            if url.scheme == "file":
                assert Path(unquote(url.path)).exists(), href
            elif href and url.scheme not in ("http", "https", "mailto"):
                pytest.fail(f"unexpected link {href}")
            if url.fragment and url.scheme == "file" and unquote(url.path) == str(page):
                assert driver.find_elements(By.ID, url.fragment), href  # the table of contents' anchors exist
    finally:
        driver.quit()


@BROWSER
def test_text_from_values_files_is_shown_never_run(tmp_path, monkeypatch):
    """What a values file says (corpus, device, commit, findings, values, figure names) is text on the page:
    markup in it is shown, not executed, in a real browser."""
    import json

    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    monkeypatch.setenv("SDFNETS_FIGURES_DIR", str(tmp_path / "figures"))
    evil = {"script": "<script>alert('corpus')</script>", "img": '<img src=x onerror="alert(1)">'}
    values = paths.values_path("02_anchor_decoders", "smoke")
    values.parent.mkdir(parents=True)
    values.write_text(json.dumps({"corpus": evil["script"], "device": evil["img"], "git_commit": evil["script"],
                                  "num_shapes": evil["img"], "findings": [evil["img"]],
                                  "values": {evil["script"]: evil["img"]}}))
    fig = paths.figure_path("02_anchor_decoders", "x<img src=y onerror=alert(2)>", "smoke", "png")
    fig.parent.mkdir(parents=True)
    shutil.copyfile(next((paths.REPO_ROOT / "figures" / "full" / "02_anchor_decoders").glob("*.png")), fig)
    page = report.build("smoke", out=tmp_path / "report")
    driver = _chromium()
    try:
        driver.get(page.as_uri())
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text  # noqa: B018  (no script ran)
        assert not driver.find_elements(By.CSS_SELECTOR, "[onerror]")
        assert not [s for s in driver.find_elements(By.TAG_NAME, "script") if "alert" in (s.get_attribute("innerHTML") or "")]
        text = driver.find_element(By.TAG_NAME, "body").text
        assert "<script>alert('corpus')</script>" in text and 'onerror="alert(1)"' in text
    finally:
        driver.quit()


def test_each_figure_sits_under_the_cell_that_saved_it_with_its_caption(tmp_path, monkeypatch):
    """The committed full-scale report: every figure once, in the order the notebook saves them, captioned with
    the `# caption:` written above the call that saved it."""
    import re

    import jupytext

    monkeypatch.setenv("SDFNETS_FIGURES_DIR", str(paths.REPO_ROOT / "figures"))  # read only
    page = report.build("full", out=tmp_path / "report").read_text()
    for src in notebooks.list_notebooks():
        saved = sorted(p.name for p in (paths.REPO_ROOT / "figures" / "full" / src.stem).glob("*.*"))
        shown = re.findall(rf'(?:src|href)="figures/{src.stem}/([^"]+)"', page)
        assert sorted(set(shown)) == saved and len(shown) == len(saved), src.stem
        order = [p for c in jupytext.read(src).cells if c.cell_type == "code" for p, _ in report._figures_of(c.source)]
        rank = [next(i for i, p in enumerate(order) if fnmatch.fnmatch(Path(name).stem, p)) for name in shown]
        assert rank == sorted(rank), f"{src.stem}: figures out of the notebook's order"
        for pattern, caption in (x for c in jupytext.read(src).cells if c.cell_type == "code"
                                 for x in report._figures_of(c.source)):
            if any(fnmatch.fnmatch(Path(name).stem, pattern) for name in shown):  # a figure not yet regenerated: none
                assert caption and caption in html.unescape(page), (src.stem, caption)


GUARD = {"script": 0, "on": 0, "javascript": 0}


def _active(page: str) -> dict:
    """What in a page could run: script elements, on* attributes, javascript: links."""
    from html.parser import HTMLParser

    found = {"script": 0, "on": 0, "javascript": 0}

    class Scan(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found["script"] += tag == "script"
            for name, value in attrs:
                found["on"] += name.lower().startswith("on")
                found["javascript"] += (value or "").strip().lower().startswith("javascript:")

    Scan().feed(page)
    return found


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.lists(st.sampled_from(list("<>\"'=/&;:()[]!` ab") + [
    "<script>", "</script>", "javascript:", "onerror=", "<img src=x ", "[x](javascript:alert(1))", "<!--", "]]>",
    "<a href=", "**", "\n\n", "$x$"]), max_size=12).map("".join))
def test_fuzzed_values_files_add_nothing_that_runs(tmp_path_factory, monkeypatch, text):
    """Any text in a values file's fields, findings and keys leaves the page with exactly the scripts, event
    attributes and javascript: links of a page built from plain values (the template's own)."""
    import json

    tmp = tmp_path_factory.mktemp("fuzz")
    monkeypatch.setenv("SDFNETS_FIGURES_DIR", str(tmp / "figures"))
    values = paths.values_path("02_anchor_decoders", "smoke")
    values.parent.mkdir(parents=True)

    def page_with(s):
        values.write_text(json.dumps({"corpus": s, "device": s, "git_commit": s, "num_shapes": s, "findings": [s],
                                      "values": {s or "k": s}}))
        return report.build("smoke", out=tmp / "report").read_text()

    if not any(GUARD.values()):
        GUARD.update(_active(page_with("plain")))
    assert _active(page_with(text)) == GUARD
