"""The search page served at `/`: one self-contained HTML document (inline style and script, system fonts).

Nothing is loaded from elsewhere, so it works on a machine without network. Results are put in with
`textContent`, never as HTML, so a title or snippet cannot inject markup.
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lexiflow search</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
  header { background: #234; color: #fff; padding: .8em 1.5em; }
  header h1 { margin: 0; font-size: 1.3em; }
  main { display: flex; gap: 2em; padding: 1em 1.5em; flex-wrap: wrap; }
  #docs { flex: 3 1 30em; } #words { flex: 1 1 14em; }
  form { display: flex; gap: .5em; margin-bottom: 1em; }
  input[type=search], input[type=text] { flex: 1; padding: .5em; font-size: 1em; }
  button { padding: .5em 1em; font-size: 1em; }
  .hit { background: #fff; border: 1px solid #ddd; border-radius: 4px; padding: .6em .8em; margin-bottom: .6em; }
  .hit .title { font-weight: bold; }
  .hit .meta { color: #666; font-size: .85em; }
  .hit .snippet { margin-top: .3em; font-size: .95em; }
  #similar li { display: flex; justify-content: space-between; gap: 1em; }
  .error { color: #a00; }
</style>
</head>
<body>
<header><h1>lexiflow search</h1></header>
<main>
  <section id="docs">
    <form id="search-form">
      <input id="q" type="search" name="q" placeholder="Search documents" autofocus>
      <input id="k" type="hidden" value="10">
      <button id="go" type="submit">Search</button>
    </form>
    <div id="status" role="status"></div>
    <div id="results"></div>
  </section>
  <aside id="words">
    <h2>Similar words</h2>
    <form id="similar-form">
      <input id="word" type="text" name="word" placeholder="a word">
      <button type="submit">Find</button>
    </form>
    <div id="similar-status" role="status"></div>
    <ol id="similar"></ol>
  </aside>
</main>
<script>
"use strict";
function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}
async function getJSON(url) {
  const response = await fetch(url);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || ("HTTP " + response.status));
  return body;
}
async function search(q) {
  const status = document.getElementById("status"), results = document.getElementById("results");
  results.replaceChildren();
  status.className = ""; status.textContent = "Searching…";
  try {
    const k = document.getElementById("k").value;
    const body = await getJSON("/search?" + new URLSearchParams({q: q, k: k}));
    status.textContent = body.results.length + " result(s) for \u201c" + q + "\u201d";
    for (const hit of body.results) {
      const card = el("div", "hit");
      card.dataset.docId = hit.doc_id;
      card.append(el("div", "title", hit.title || hit.doc_id));
      card.append(el("div", "meta", "score " + hit.score.toFixed(4) + (hit.label ? " \u00b7 " + hit.label : "")
                                    + " \u00b7 " + hit.doc_id));
      card.append(el("div", "snippet", hit.snippet || ""));
      results.append(card);
    }
  } catch (err) {
    status.className = "error"; status.textContent = err.message;
  }
  const first = q.trim().split(/\\s+/)[0];
  if (first) { document.getElementById("word").value = first; similar(first); }
}
async function similar(word) {
  const status = document.getElementById("similar-status"), list = document.getElementById("similar");
  list.replaceChildren(); status.className = ""; status.textContent = "";
  try {
    const body = await getJSON("/similar?" + new URLSearchParams({word: word, k: 10}));
    for (const hit of body.results) {
      const item = el("li");
      item.append(el("span", "term", hit.term), el("span", "score", hit.score.toFixed(3)));
      list.append(item);
    }
  } catch (err) {
    status.className = "error"; status.textContent = err.message;
  }
}
document.getElementById("search-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const q = document.getElementById("q").value.trim();
  if (q) search(q);
});
document.getElementById("similar-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const w = document.getElementById("word").value.trim();
  if (w) similar(w);
});
</script>
</body>
</html>
"""
