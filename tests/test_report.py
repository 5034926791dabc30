"""`make report`: one HTML page from the notebooks, figures and recorded values, opened in headless
Chromium: it loads, every image loads, every link resolves."""

import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from sdfnets.repro import execute as notebooks

from sdfnets.repro import report


def test_report_lists_every_notebook_and_its_findings():
    assert [r.status for r in notebooks.run_all("smoke", only="00", echo=lambda *_: None)][0] in ("ran", "fresh")
    page = report.build("smoke")
    text = page.read_text()
    for src in notebooks.list_notebooks():
        assert f'id="{src.stem}"' in text
    assert "every recorded number" in text and "Not run at scale" in text  # 00 ran; most others did not here
    assert (page.parent / "figures" / "00_data_foundation").is_dir()


@pytest.mark.skipif(not (shutil.which("chromium") and shutil.which("chromedriver")),
                    reason="needs chromium and chromedriver (apt-get install chromium chromium-driver)")
def test_report_opens_in_a_browser_with_every_image_and_link():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    notebooks.run_all("smoke", only="00", echo=lambda *_: None)
    page = report.build("smoke")
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        opts.add_argument(a)
    opts.binary_location = shutil.which("chromium")
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
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
