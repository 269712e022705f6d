"""The build report: every section present, every image a decodable PNG, nothing fetched from elsewhere; the
CLI (`report`, `query cluster`) and the service's /report."""

from __future__ import annotations

import base64
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from lexiflow.cli import main
from lexiflow.report import SECTION_IDS, STAMP, write_report
from lexiflow.store import ArtifactStore


class Page(HTMLParser):
    """Sections (id -> text inside), images (src) and every URL-bearing attribute of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, str] = {}
        self.images: list[str] = []
        self.urls: list[str] = []
        self.tags: set[str] = set()
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "section":
            self._in = a["id"]
            self.sections[self._in or ""] = ""
        if tag == "img":
            self.images.append(a["src"] or "")
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "action", "data")]

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.sections[self._in] += data


@pytest.fixture(scope="module")
def report(small_store: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Page]:
    out = tmp_path_factory.mktemp("report")
    page_path = write_report(ArtifactStore(str(small_store)), "default", str(out))
    page = Page()
    page.feed(Path(page_path).read_text(encoding="utf-8"))
    return out, page


def test_report_has_every_section_and_every_image_decodes(report: tuple[Path, Page]) -> None:
    out, page = report
    assert list(page.sections) == SECTION_IDS
    assert len(page.images) >= 8  # corpus (3), timings, maps (3: tsne, lle, laplacian), word map
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        image.load()
        assert image.format == "PNG" and min(image.size) > 100
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert {"corpus_zipf.png", "timings.png", "map_tsne.png", "map_lle.png", "map_laplacian.png",
            "word_map.png"} <= set(pngs)
    assert len(pngs) == len(page.images)  # the PNGs next to the page are the ones in it


def test_report_is_self_contained(report: tuple[Path, Page]) -> None:
    _, page = report
    assert "script" not in page.tags and "link" not in page.tags  # no scripts, no stylesheets or fonts
    assert all(u.startswith(("data:", "#")) for u in page.urls), [u[:60] for u in page.urls]


def test_report_says_what_the_build_lacks(report: tuple[Path, Page]) -> None:
    _, page = report
    s = page.sections
    # the small build has no GloVe/nnlm/autoencoder, no eval stages and no retrieval.json: said, not hidden
    for missing in ("training", "evaluation", "retrieval"):
        assert "Not in this build" in s[missing], missing
    for present in ("corpus", "timings", "maps", "words", "clusters"):
        assert "Not in this build" not in s[present], present
    assert "documents" in s["corpus"] and "vocabulary" in s["corpus"]
    assert "kmeans clusters" in s["clusters"] and "Word classes" in s["clusters"]
    assert "NMI" in s["clusters"]  # the sample corpus has labels


def test_cli_report_and_query_cluster(small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["report", "--store", str(small_store), "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip().endswith("index.html")
    assert (tmp_path / "index.html").exists()
    assert main(["query", "cluster", "0", "--store", str(small_store), "-k", "3", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["method"] == "kmeans" and info["k"] == 8 and len(info["top_terms"]) == 10
    assert len(info["examples"]) == 3 and all(e["title"] for e in info["examples"])
    scores = [e["score"] for e in info["examples"]]
    assert scores == sorted(scores, reverse=True)  # nearest the centroid first
    assert main(["query", "cluster", "2", "--words", "--method", "hac", "--store", str(small_store)]) == 0
    assert "word_cluster hac cluster 2 of 8" in capsys.readouterr().out
    assert main(["query", "cluster", "99", "--store", str(small_store)]) == 1
    assert "clusters 0..7" in capsys.readouterr().err


def test_service_serves_the_report(small_store: Path) -> None:
    from lexiflow.service import create_app

    stamp = small_store / "reports" / "default" / STAMP
    with TestClient(create_app(str(small_store))) as client:
        response = client.get("/report")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        assert '<section id="maps">' in response.text and "data:image/png;base64," in response.text
        served = ArtifactStore(str(small_store)).read_ref("default")["artifacts"]
        assert json.loads(stamp.read_text())["artifacts"] == served
        stamp.write_text(json.dumps({"artifacts": {"lsa": "an-older-build"}}))  # as after a retrain moved the ref
        assert client.get("/report").status_code == 200
    assert json.loads(stamp.read_text())["artifacts"] == served  # the page was redrawn for the build served


def test_report_and_cluster_query_import_neither_prefect_nor_dask(small_store: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    code = ("import sys\nfrom lexiflow.cli import main\n"
            f"assert main(['report', '--store', {str(small_store)!r}, '--out', {str(tmp_path)!r}]) == 0\n"
            f"assert main(['query', 'cluster', '1', '--store', {str(small_store)!r}]) == 0\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('prefect', 'dask', 'distributed')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
