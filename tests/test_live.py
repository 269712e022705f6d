"""The service over real HTTP: a ref move picked up with no failed request, and the page in headless Chromium."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from service_util import LiveServer, build_store, corpus_slice

from lexiflow.service import create_app
from lexiflow.store import ArtifactStore

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {seconds} s")
        time.sleep(0.05)


def test_ref_move_is_served_without_a_failed_request(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    old = build_store(root, corpus_slice(tmp_path / "a.parquet", 0, 400), ref="old")
    new = build_store(root, corpus_slice(tmp_path / "b.parquet", 400, 800), ref="new")
    old_ids = set(old["ingest"].read_table(columns=["doc_id"])["doc_id"].to_pylist())
    new_ids = set(new["ingest"].read_table(columns=["doc_id"])["doc_id"].to_pylist())
    store = ArtifactStore(str(root))
    store.write_ref("default", old)
    app = create_app(str(root), check_every=0.05)
    failures: list[str] = []
    answers: list[tuple[float, set[str]]] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            while not stop.is_set():
                response = http.get("/search", params={"q": "library for python", "k": 10})
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:200]}")
                    continue
                answers.append((time.monotonic(), {h["doc_id"] for h in response.json()["results"]}))

    with LiveServer(app) as server:
        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        wait_for(lambda: len(answers) >= 8, "answers from the old build")
        moved = time.monotonic()
        store.write_ref("default", new)
        deadline = time.monotonic() + 60
        while httpx.get(f"{server.url}/health").json()["artifacts"]["doc_index"] != new["doc_index"].key:
            assert time.monotonic() < deadline, "the service did not pick up the moved ref within 60 s"
            time.sleep(0.05)
        switched = time.monotonic()
        wait_for(lambda: sum(t > switched + 0.1 for t, _ in answers) >= 8, "answers after the switch")
        stop.set()
        for t in threads:
            t.join()
    assert failures == []
    before = [ids for t, ids in answers if t < moved]
    after = [ids for t, ids in answers if t > switched + 0.1]
    assert before and after
    assert all(ids <= old_ids for ids in before)
    assert all(ids <= new_ids for ids in after)  # the new index answers, and only it
    assert all(ids <= old_ids or ids <= new_ids for _, ids in answers)  # never a mix of two builds


@pytest.fixture(scope="module")
def browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if shutil.which(p) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: apt-get install -y chromium chromium-driver "
                    "(.ci/run does this)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="lexiflow-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--no-first-run", "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def test_search_page_in_chromium(browser, live_server: LiveServer) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    expected = httpx.get(f"{live_server.url}/search", params={"q": "python library", "k": 10}).json()["results"]
    similar = httpx.get(f"{live_server.url}/similar", params={"word": "python", "k": 10}).json()["results"]
    browser.get(live_server.url + "/")
    assert browser.title == "lexiflow search"
    box = browser.find_element(By.ID, "q")
    box.send_keys("python library")
    browser.find_element(By.ID, "go").click()
    wait = WebDriverWait(browser, 20)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results .hit")) == len(expected))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#similar li")) == len(similar))
    cards = browser.find_elements(By.CSS_SELECTOR, "#results .hit")
    assert [c.get_attribute("data-doc-id") for c in cards] == [h["doc_id"] for h in expected]
    assert [c.find_element(By.CLASS_NAME, "title").text for c in cards] == [h["title"] for h in expected]
    assert cards[0].find_element(By.CLASS_NAME, "meta").text.startswith(f"score {expected[0]['score']:.4f}")
    assert cards[0].find_element(By.CLASS_NAME, "snippet").text.split()[:3] == expected[0]["snippet"].split()[:3]
    items = browser.find_elements(By.CSS_SELECTOR, "#similar li")
    terms = [li.find_element(By.CLASS_NAME, "term").text for li in items]
    assert terms == [h["term"] for h in similar]
    assert ec.text_to_be_present_in_element((By.ID, "status"), "10 result(s)")(browser)
    # an unknown word shows the service's reason, not a blank panel
    word = browser.find_element(By.ID, "word")
    word.clear()
    word.send_keys("qqzzyy\n")
    wait.until(ec.text_to_be_present_in_element((By.ID, "similar-status"), "not in the word vectors' vocabulary"))
    # nothing was fetched from anywhere but the service itself
    origins = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => new URL(e.name).origin)")
    assert set(origins) <= {live_server.url}
    scripts = browser.execute_script("return [...document.scripts].map(s => s.src).filter(Boolean)")
    assert scripts == []


def test_serve_command_with_two_worker_processes(small_store: Path, tmp_path: Path) -> None:
    """`lexiflow serve --workers 2` as a user starts it: both processes answer, and agree with the in-process engine."""
    import subprocess
    import sys

    from service_util import free_port

    from lexiflow.query import QueryEngine

    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "lexiflow"), "serve", "--store", str(small_store),
                             "--port", str(port), "--workers", "2"], stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(f"{url}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                assert proc.poll() is None, (tmp_path / "serve.log").read_text()
                return False

        wait_for(up, "answer from lexiflow serve --workers 2", 90)
        want = [h.doc_id for h in QueryEngine(ArtifactStore(str(small_store)), "default").docs("web browser", 5)]
        pids: set[int] = set()

        def both_answer() -> bool:  # a fresh connection per call, so the kernel hands them to either process
            got = httpx.get(f"{url}/search", params={"q": "web browser", "k": 5}, timeout=10).json()["results"]
            assert [r["doc_id"] for r in got] == want
            pids.add(httpx.get(f"{url}/health", timeout=10).json()["pid"])
            return len(pids) == 2

        wait_for(both_answer, "answers from two worker processes", 90)
        assert proc.pid not in pids  # the supervisor process does not serve requests itself
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_report_page_displays_its_images_in_chromium(browser, live_server: LiveServer, tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    from lexiflow.report import SECTION_IDS

    browser.set_window_size(1400, 1000)
    browser.get(live_server.url + "/report")
    WebDriverWait(browser, 60).until(lambda d: d.execute_script("return document.readyState") == "complete")
    assert browser.title.startswith("lexiflow build 'default'")
    images = browser.execute_script(
        "return [...document.images].map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight,"
        " i.getBoundingClientRect().width])")
    assert len(images) >= 8
    for alt, complete, width, height, shown in images:
        assert complete and width > 100 and height > 100, alt  # decoded by the browser
        assert shown > 100, alt  # laid out at a visible size
    sections = browser.execute_script("return [...document.querySelectorAll('section')].map(s => s.id)")
    assert sections == SECTION_IDS
    origins = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => new URL(e.name).origin)")
    assert set(origins) <= {live_server.url, "null"}  # data: URIs only, nothing fetched from elsewhere
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
