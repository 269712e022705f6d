"""The HTTP service: answers, validation, JSON errors, CLI parity, and no Prefect or Dask on its path."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lexiflow import cli
from lexiflow.config import QueryConfig
from lexiflow.service import create_app


@pytest.fixture(scope="module")
def client(small_store: Path) -> TestClient:
    app = create_app(str(small_store), query=QueryConfig(max_k=50, max_query_chars=100))
    return TestClient(app, raise_server_exceptions=False)


def test_search_returns_titles_snippets_scores_labels(client: TestClient) -> None:
    body = client.get("/search", params={"q": "python library", "k": 5}).json()
    hits = body["results"]
    assert len(hits) == 5 and [h["rank"] for h in hits] == [1, 2, 3, 4, 5]
    assert all(h["title"] and h["snippet"] and isinstance(h["score"], float) for h in hits)
    assert all(a["score"] >= b["score"] for a, b in itertools.pairwise(hits))
    assert all(len(h["snippet"]) <= 200 for h in hits)


def test_similar_and_analogy(client: TestClient) -> None:
    hits = client.get("/similar", params={"word": "Library", "k": 4}).json()["results"]
    assert len(hits) == 4 and all(h["term"] != "library" for h in hits)  # the word, as tokenized, left out
    ana = client.get("/analogy", params={"a": "python", "b": "perl", "c": "library", "k": 3}).json()["results"]
    assert len(ana) == 3 and not {h["term"] for h in ana} & {"python", "perl", "library"}


@pytest.mark.parametrize(
    ("path", "params", "status", "reason"),
    [
        ("/search", {"q": "x", "k": 0}, 422, "k: Input should be greater than or equal to 1"),
        ("/search", {"q": "x", "k": 51}, 422, "k: Input should be less than or equal to 50"),
        ("/search", {"q": "x", "k": "ten"}, 422, "k: Input should be a valid integer"),
        ("/search", {"q": "y" * 101}, 422, "q: String should have at most 100 characters"),
        ("/search", {}, 422, "q: Field required"),
        ("/search", {"q": "zzqqxx"}, 400, "none of the query's terms ['zzqqxx'] is in the vocabulary"),
        ("/similar", {"word": "zzqqxx"}, 404, "'zzqqxx' is not in the word vectors' vocabulary"),
        ("/similar", {"word": "library", "model": "glove"}, 400, "model='glove'"),
        ("/nowhere", {}, 404, "Not Found"),
    ],
)
def test_errors_are_json_with_a_reason(client: TestClient, path: str, params: dict, status: int,
                                       reason: str) -> None:
    response = client.get(path, params=params)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert reason in response.json()["error"]
    assert "Traceback" not in response.text


def test_a_rejected_long_query_is_not_echoed_back_whole(client: TestClient) -> None:
    error = client.get("/search", params={"q": "y" * 5000}).json()["error"]
    assert "at most 100 characters" in error and "(5000 characters)" in error and len(error) < 300


def test_unknown_word_names_word_and_vocab_size(client: TestClient, small_store: Path) -> None:
    body = client.get("/analogy", params={"a": "python", "b": "qqzzyy", "c": "library"}).json()
    size = client.get("/health").json()["index_size"]["word_index"]
    assert body["word"] == "qqzzyy" and body["vocab_size"] == size and body["status"] == 404


def test_internal_error_hides_the_traceback(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = client.app.state.holder.current.engine

    def boom(*_: object) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(engine, "docs", boom)
    response = client.get("/search", params={"q": "python"})
    assert response.status_code == 500
    assert response.json()["error"] == "internal error (RuntimeError); the server log has the details"
    assert "secret" not in response.text


def test_health_and_openapi(client: TestClient, small_store: Path) -> None:
    health = client.get("/health").json()
    ref = json.loads((small_store / "refs" / "default.json").read_text())
    assert health["artifacts"] == ref["artifacts"] and health["ref"] == "default"
    assert health["index_size"]["doc_index"] == 800
    spec = client.get("/openapi.json").json()
    assert {"/search", "/similar", "/analogy", "/health"} <= set(spec["paths"])
    docs = client.get("/docs").text
    assert "/search" in docs and "<script" not in docs


def test_cli_answers_what_the_service_answers(client: TestClient, small_store: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["query", "docs", "python", "library", "-k", "7", "--json", "--store", str(small_store)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    served = client.get("/search", params={"q": "python library", "k": 7}).json()["results"]
    assert lines == served
    assert cli.main(["query", "analogy", "python", "perl", "library", "-k", "3", "--json",
                     "--store", str(small_store)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines == client.get("/analogy", params={"a": "python", "b": "perl", "c": "library", "k": 3}
                               ).json()["results"]


def test_service_path_imports_no_prefect_or_dask(small_store: Path) -> None:
    code = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from lexiflow.service import create_app\n"
        f"c = TestClient(create_app({str(small_store)!r}))\n"
        "assert c.get('/search', params={'q': 'python'}).status_code == 200\n"
        "assert c.get('/similar', params={'word': 'python'}).status_code == 200\n"
        "import lexiflow.cli\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('prefect', 'dask', 'distributed'))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
