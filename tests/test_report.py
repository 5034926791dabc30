"""`make report`: one HTML page from the notebooks, figures and recorded values, opened in headless
Chromium: it loads, every image loads, every link resolves."""

import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

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
