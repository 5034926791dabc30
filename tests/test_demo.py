"""The web demo end to end: gradio on localhost, driven by headless Chromium (Debian's chromium
and chromium-driver, installed by `make setup`)."""

import shutil
import socket
import urllib.request

import pytest
from PIL import Image

from sdfnets import paths
from sdfnets.app.image2mesh import DEFAULT_RELEASE

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (shutil.which("chromium") and shutil.which("chromedriver")),
                       reason="needs chromium and chromedriver (apt-get install chromium chromium-driver)"),
    pytest.mark.skipif(not (paths.RELEASE_DIR / DEFAULT_RELEASE).exists(), reason="no released checkpoint"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser_and_demo():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from sdfnets.app.demo import build

    demo = build(device="cpu")
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1600"):
        opts.add_argument(a)
    opts.binary_location = shutil.which("chromium")
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    try:
        yield driver, f"http://127.0.0.1:{port}", demo
    finally:
        driver.quit()
        demo.close()


def _upload_and_run(driver, url, files, resolution="48"):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    wait = WebDriverWait(driver, 90)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#images input[type=file]"))
    driver.find_element(By.CSS_SELECTOR, "#images input[type=file]").send_keys("\n".join(str(f) for f in files))
    wait.until(lambda d: all(f.stem in d.find_element(By.ID, "images").text for f in files))
    box = driver.find_element(By.CSS_SELECTOR, "#resolution input[type=number]")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(resolution, Keys.ENTER)
    driver.find_element(By.ID, "run").click()
    return WebDriverWait(driver, 300)


def test_demo_returns_a_mesh(browser_and_demo, tmp_path):
    import trimesh
    from selenium.webdriver.common.by import By

    from sdfnets.data import procedural, render

    driver, url, demo = browser_and_demo
    assert demo.server_name == "127.0.0.1"  # localhost unless told otherwise
    mesh, _, _ = procedural.generate(2, resolution=64)
    views = render.thumbnails([mesh], 224)
    Image.fromarray(views[0]).save(tmp_path / "lamp.png")
    wait = _upload_and_run(driver, url, [tmp_path / "lamp.png"])
    wait.until(lambda d: "faces" in d.find_element(By.ID, "info").text)
    links = [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "#download a")]
    glb = next(h for h in links if h and ".glb" in h)
    data = urllib.request.urlopen(glb, timeout=30).read()
    (tmp_path / "out.glb").write_bytes(data)
    out = trimesh.load(tmp_path / "out.glb", force="mesh")
    assert len(out.faces) > 100


def test_demo_reports_a_corrupt_image(browser_and_demo, tmp_path):
    from selenium.webdriver.common.by import By

    driver, url, _ = browser_and_demo
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    wait = _upload_and_run(driver, url, [tmp_path / "broken.png"])
    wait.until(lambda d: "not a readable image" in d.find_element(By.TAG_NAME, "body").text)
