"""A scheduled deployment end to end: real Prefect server, `prefect deploy --all`, a process worker."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request

from ops_support import BIN, REPO, check_store, prefect_server, small_corpus


def test_deploy_from_prefect_yaml_and_run_on_a_worker(tmp_path):
    corpus = small_corpus(tmp_path / "corpus.parquet", rows=300)
    store = tmp_path / "store"
    with prefect_server(tmp_path / "prefect") as env:
        env = {**env, "LEXIFLOW_HOME": str(REPO)}

        def prefect(*args: str, timeout: float = 180) -> str:
            done = subprocess.run([str(BIN / "prefect"), *args], cwd=REPO, env={**__import__("os").environ, **env},
                                  capture_output=True, text=True, timeout=timeout)
            assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            return done.stdout

        prefect("work-pool", "create", "lexiflow", "--type", "process")
        out = prefect("--no-prompt", "deploy", "--all")
        assert "build/build" in out.replace("'", "") or "build" in out
        deployments = prefect("deployment", "ls")
        assert "build/build" in deployments and "retrain/retrain" in deployments
        run = prefect("deployment", "run", "build/build", "--param", f"corpus={corpus}",
                      "--param", json.dumps([f"store.root={store}"]).join(["overrides=", ""]))
        flow_run_id = re.search(r"UUID: ([0-9a-f-]{36})", run).group(1)
        prefect("worker", "start", "--pool", "lexiflow", "--run-once", timeout=600)
        with urllib.request.urlopen(f"{env['PREFECT_API_URL']}/flow_runs/{flow_run_id}", timeout=10) as resp:
            state = json.load(resp)["state"]
        assert state["type"] == "COMPLETED", state
    ref = json.loads((store / "refs" / "default.json").read_text())
    assert set(ref["artifacts"]) >= {"ingest", "tokens", "vocab", "tfidf", "lsa", "doc_index", "word_index"}
    assert ref["corpus"] == str(corpus)
    assert check_store(store) == len(ref["artifacts"])
    ingest = json.loads((store / "ingest" / ref["artifacts"]["ingest"] / "manifest.json").read_text())
    assert ingest["rows"] == 300
