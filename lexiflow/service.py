"""HTTP query service: the QueryEngine of a named build behind FastAPI, plus a small search page.

No Prefect, no Dask: only the store, the engine and what a build fitted. The service watches its ref
(`ROOT/refs/<name>.json`): when a build or retrain moves it, a background thread loads and warms the new
build while the old one keeps answering, then swaps it in with one assignment, so no request fails or
sees a half-loaded build. Every error is a JSON body with a reason; tracebacks stay in the server log.
"""

from __future__ import annotations

import html
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lexiflow.config import QueryConfig
from lexiflow.query import QueryEngine, QueryError, UnknownWordError
from lexiflow.store import ArtifactStore
from lexiflow.webpage import PAGE

log = logging.getLogger("lexiflow.service")
WORD_MODELS = ("word2vec", "glove", "nnlm")  # stages whose vectors a word index may be built from


@dataclass(frozen=True)
class Loaded:
    """One build, loaded and warmed: the engine and the ref body it came from."""

    engine: QueryEngine
    ref: dict[str, Any]
    loaded_at: float


class EngineHolder:
    """The build being served; checks the ref at most every `check_every` seconds and swaps in a moved one."""

    def __init__(self, store: ArtifactStore, ref: str, settings: QueryConfig | None = None,
                 check_every: float = 1.0) -> None:
        self.store, self.ref, self.check_every = store, ref, check_every
        self.settings = settings or QueryConfig()
        self.current = self._load(store.read_ref(ref))
        self._checked = time.monotonic()
        self._lock = threading.Lock()
        self._loading: threading.Thread | None = None
        self.reload_error: str | None = None
        self.reloads = 0

    def _load(self, ref_body: dict[str, Any]) -> Loaded:
        started = time.perf_counter()
        engine = QueryEngine(self.store, self.ref, self.settings)
        if engine.artifacts and {s: a.key for s, a in engine.artifacts.items()} != ref_body["artifacts"]:
            ref_body = self.store.read_ref(self.ref)  # moved again while we resolved it: record what we loaded
        engine.warm()
        log.info("serving ref %r (%s), loaded in %.2fs", self.ref, ref_body.get("created"),
                 time.perf_counter() - started)
        return Loaded(engine, {**ref_body, "artifacts": {s: a.key for s, a in engine.artifacts.items()}},
                      time.time())

    def engine(self) -> QueryEngine:
        """The engine to answer with now; starts a background reload when the ref has moved."""
        now = time.monotonic()
        if now - self._checked >= self.check_every:
            self._checked = now
            self.check()
        return self.current.engine

    def check(self, wait: bool = False) -> None:
        try:
            body = self.store.read_ref(self.ref)
        except (FileNotFoundError, ValueError) as exc:  # a ref removed or mid-write: keep serving
            self.reload_error = str(exc)
            return
        if body.get("artifacts") == self.current.ref.get("artifacts"):
            return
        with self._lock:
            if self._loading is None or not self._loading.is_alive():
                self._loading = threading.Thread(target=self._reload, args=(body,), name="ref-reload", daemon=True)
                self._loading.start()
            thread = self._loading
        if wait:
            thread.join()

    def _reload(self, body: dict[str, Any]) -> None:
        try:
            loaded = self._load(body)
        except Exception as exc:  # the old build keeps answering; /health says why
            log.exception("reloading ref %r failed; still serving the previous build", self.ref)
            self.reload_error = f"{type(exc).__name__}: {exc}"
            return
        self.current = loaded
        self.reload_error = None
        self.reloads += 1


def _error(status: int, reason: str, **extra: Any) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": reason, "status": status, **extra})


def _shown(value: Any, limit: int = 80) -> str:
    """A rejected value as the error shows it: cut, so a 100 kB query is not echoed back whole."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(str(value))} characters)"


def _validation_reason(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "body"))
        parts.append(f"{where}: {err.get('msg')}" + (f" (got {_shown(err['input'])})" if "input" in err else ""))
    return "; ".join(parts) or "invalid request"


def create_app(store_root: str, ref: str = "default", query: QueryConfig | None = None,
               check_every: float = 1.0) -> FastAPI:
    """The service for one ref of one store; loads the build now, so a bad ref fails at start-up."""
    qcfg = query or QueryConfig()
    import faiss

    # One OpenMP thread per search: requests already run concurrently, and a parallel region per single
    # query only adds fork-join waits (milliseconds each on a busy machine).
    faiss.omp_set_num_threads(qcfg.search_threads)
    holder = EngineHolder(ArtifactStore(store_root), ref, qcfg, check_every)
    app = FastAPI(title="lexiflow", version="1", docs_url=None, redoc_url=None,
                  description="Search documents and words of a lexiflow build.")
    app.state.holder = holder
    k_query = Query(qcfg.k, ge=1, le=qcfg.max_k, description=f"number of results, 1..{qcfg.max_k}")

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, _validation_reason(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(UnknownWordError)
    async def _unknown(_: Request, exc: UnknownWordError) -> JSONResponse:
        return _error(404, str(exc), word=exc.word, vocab_size=exc.vocab_size)

    @app.exception_handler(QueryError)
    async def _query(_: Request, exc: QueryError) -> JSONResponse:
        return _error(400, str(exc))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return _error(500, f"internal error ({type(exc).__name__}); the server log has the details")

    @app.get("/search", summary="Documents nearest to a query text")
    def search(q: str = Query(..., min_length=1, max_length=qcfg.max_query_chars, description="query text"),
               k: int = k_query) -> dict[str, Any]:
        hits = holder.engine().docs(q, k)
        return {"query": q, "k": k, "results": [
            {"rank": h.rank, "doc_id": h.doc_id, "title": h.title, "snippet": h.snippet, "label": h.label,
             "score": round(h.score, 6)} for h in hits]}

    def _model(model: str | None) -> None:
        if model is None:
            return
        built = [m for m in WORD_MODELS if m in holder.current.engine.artifacts]
        if model not in built:
            raise QueryError(f"model={model!r}: this build's word index is from {', '.join(built) or 'nothing'}")

    @app.get("/similar", summary="Words nearest to a word")
    def similar(word: str = Query(..., min_length=1, max_length=qcfg.max_query_chars), k: int = k_query,
                model: str | None = Query(None, description=f"word model: one of {', '.join(WORD_MODELS)}")
                ) -> dict[str, Any]:
        _model(model)
        hits = holder.engine().similar(word, k)
        return {"word": word, "k": k, "results": [{"rank": h.rank, "term": h.term, "score": round(h.score, 6)}
                                                  for h in hits]}

    @app.get("/analogy", summary="a is to b as c is to ? (b - a + c)")
    def analogy(a: str = Query(..., min_length=1, max_length=qcfg.max_query_chars),
                b: str = Query(..., min_length=1, max_length=qcfg.max_query_chars),
                c: str = Query(..., min_length=1, max_length=qcfg.max_query_chars),
                k: int = k_query, model: str | None = None) -> dict[str, Any]:
        _model(model)
        hits = holder.engine().analogy(a, b, c, k)
        return {"a": a, "b": b, "c": c, "k": k,
                "results": [{"rank": h.rank, "term": h.term, "score": round(h.score, 6)} for h in hits]}

    @app.get("/health", summary="The build being served")
    def health() -> dict[str, Any]:
        holder.engine()  # lets a health probe notice a moved ref too
        loaded = holder.current
        return {"status": "ok", "ref": holder.ref, "created": loaded.ref.get("created"),
                "artifacts": loaded.ref.get("artifacts", {}), "index_size": loaded.engine.index_sizes(),
                "loaded_at": loaded.loaded_at, "reloads": holder.reloads, "reload_error": holder.reload_error,
                "max_k": qcfg.max_k, "max_query_chars": qcfg.max_query_chars,
                "pid": os.getpid()}  # which of `serve --workers N` answered

    @app.get("/report", response_class=HTMLResponse, summary="The build report (self-contained HTML)")
    def report() -> HTMLResponse:
        """The report of the build being served (ROOT/reports/<ref>/), redrawn when it shows another build."""
        from lexiflow.report import current_page

        return HTMLResponse(current_page(holder.store, holder.ref, holder.current.ref.get("artifacts", {})))

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(PAGE)

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(_docs_html(app.openapi()))

    return app


def _docs_html(spec: dict[str, Any]) -> str:
    """The OpenAPI schema as a plain page (Swagger UI would load scripts from a CDN; this works offline)."""
    rows = []
    for path, ops in spec.get("paths", {}).items():
        for method, op in ops.items():
            params = "".join(
                f"<li><code>{html.escape(p['name'])}</code>{' (required)' if p.get('required') else ''}: "
                f"{html.escape(p.get('description') or p.get('schema', {}).get('type', ''))}</li>"
                for p in op.get("parameters", []))
            rows.append(f"<h2><code>{method.upper()} {html.escape(path)}</code></h2>"
                        f"<p>{html.escape(op.get('summary', ''))}</p><ul>{params}</ul>")
    return ("<!doctype html><meta charset=utf-8><title>lexiflow API</title>"
            "<style>body{font-family:sans-serif;max-width:50em;margin:2em auto}</style>"
            f"<h1>{html.escape(spec['info']['title'])} API</h1><p>Machine-readable: "
            "<a href=/openapi.json>/openapi.json</a></p>" + "".join(rows))


SERVE_ENV = "LEXIFLOW_SERVE"  # worker processes read what to serve from here (uvicorn imports the app anew)


def app_from_env() -> FastAPI:
    """The app a uvicorn worker process builds: store, ref and query settings from `SERVE_ENV`."""
    settings = json.loads(os.environ[SERVE_ENV])
    return create_app(settings["store_root"], settings["ref"], QueryConfig.model_validate(settings["query"]))


def serve(store_root: str, ref: str, query: QueryConfig, host: str = "127.0.0.1", port: int = 8000,
          workers: int = 1) -> None:
    """Run the service; with several workers each is a process with its own loaded build (no shared GIL)."""
    import uvicorn

    if workers <= 1:
        uvicorn.run(create_app(store_root, ref, query), host=host, port=port, log_level="info")
        return
    ArtifactStore(store_root).resolve(ref)  # a bad store or ref fails here, once, without loading the build
    os.environ[SERVE_ENV] = json.dumps({"store_root": store_root, "ref": ref, "query": query.model_dump(mode="json")})
    uvicorn.run("lexiflow.service:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="info")
