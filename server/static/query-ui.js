// The query page: runs the editor's query against /sparql, shows the results as a table
// (IRIs of this graph link to their pages), errors in place, downloads in every format, and
// keeps /query?query=… in the address bar so the page can be shared.
"use strict";

(function () {
  const script = document.getElementById("query-ui-script");
  const form = document.getElementById("query-form");
  const textarea = document.getElementById("query");
  const shareLink = document.getElementById("share");
  const statusBox = document.getElementById("status");
  const errorBox = document.getElementById("error");
  const resultsBox = document.getElementById("results");
  const downloads = document.getElementById("downloads");
  const downloadButtons = document.getElementById("download-buttons");
  const base = document.body.dataset.base;
  const prefixes = JSON.parse(document.body.dataset.prefixes || "{}");
  const editor = attachSparqlEditor(textarea, document.getElementById("query-highlight"));

  const TABLE_FORMATS = [
    ["CSV", "text/csv", "csv"], ["TSV", "text/tab-separated-values", "tsv"],
    ["JSON", "application/sparql-results+json", "json"], ["XML", "application/sparql-results+xml", "xml"],
  ];
  const GRAPH_FORMATS = [
    ["Turtle", "text/turtle", "ttl"], ["N-Triples", "application/n-triples", "nt"],
    ["JSON-LD", "application/ld+json", "jsonld"], ["RDF/XML", "application/rdf+xml", "rdf"],
    ["TriG", "application/trig", "trig"], ["N-Quads", "application/n-quads", "nq"],
  ];

  function shareUrl(query) {
    return "/query?query=" + encodeURIComponent(query);
  }

  function sparqlRequest(query, accept) {
    return fetch("/sparql", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", "Accept": accept },
      body: new URLSearchParams({ query }),
    });
  }

  async function run() {
    const query = textarea.value;
    shareLink.href = shareUrl(query);
    history.replaceState(null, "", shareUrl(query));
    errorBox.hidden = true;
    textarea.removeAttribute("aria-invalid");
    downloads.hidden = true;
    resultsBox.replaceChildren();
    statusBox.textContent = "Running…";
    const started = performance.now();
    let response;
    try {
      response = await sparqlRequest(query, "application/sparql-results+json, application/n-triples;q=0.9");
    } catch (failure) {
      showError("The server could not be reached: " + failure.message);
      return;
    }
    const body = await response.text();
    if (!response.ok) {
      showError(body.trim() || `${response.status} ${response.statusText}`);
      return;
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    const type = (response.headers.get("Content-Type") || "").split(";")[0].trim();
    let rows;
    if (type === "application/n-triples") {
      rows = renderTable(["subject", "predicate", "object"], parseNTriples(body));
      offerDownloads(query, GRAPH_FORMATS);
    } else {
      const json = JSON.parse(body);
      if ("boolean" in json) {
        const answer = document.createElement("p");
        answer.className = "ask-answer";
        answer.textContent = `Answer: ${json.boolean ? "yes" : "no"} (${json.boolean})`;
        resultsBox.append(answer);
        rows = 1;
      } else {
        rows = renderTable(json.head.vars, json.results.bindings);
      }
      offerDownloads(query, TABLE_FORMATS);
    }
    statusBox.textContent = `${rows} result${rows === 1 ? "" : "s"} in ${seconds} s.`;
  }

  function showError(message) {
    statusBox.textContent = "The query failed.";
    errorBox.textContent = message;
    errorBox.hidden = false;
    textarea.setAttribute("aria-invalid", "true");
  }

  function renderTable(vars, bindings) {
    const table = document.createElement("table");
    table.className = "results";
    const caption = table.createCaption();
    caption.className = "visually-hidden";
    caption.textContent = "Query results";
    const headRow = table.createTHead().insertRow();
    for (const name of vars) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = name;
      headRow.append(th);
    }
    const body = table.createTBody();
    for (const binding of bindings) {
      const row = body.insertRow();
      for (const name of vars) {
        row.insertCell().append(renderTerm(binding[name]));
      }
    }
    resultsBox.append(table);
    return bindings.length;
  }

  function shortIri(iri) {
    let best = null;
    for (const [prefix, namespace] of Object.entries(prefixes)) {
      if (iri.startsWith(namespace) && iri.length > namespace.length && (!best || namespace.length > best[1].length)) {
        best = [prefix, namespace];
      }
    }
    return best ? `${best[0]}:${iri.slice(best[1].length)}` : iri;
  }

  function localPage(iri) {
    if (!base || !iri.startsWith(base)) return null;
    const [documentPath, fragment] = iri.slice(base.length).split("#", 2);
    const anchor = fragment !== undefined ? "#" + fragment : "";
    if (documentPath === "ontology") return "/ontology" + anchor;
    if (!documentPath || documentPath.endsWith("/")) return null;
    return `/${documentPath}.html${anchor}`;
  }

  // Only these schemes become links; an IRI such as javascript:… or data:… is shown as text, as on
  // the server's pages (server/safe_links.py). The browser's own URL parser decides the scheme.
  function linkable(iri) {
    try {
      return ["http:", "https:", "mailto:"].includes(new URL(iri, document.baseURI).protocol);
    } catch (error) {
      return false;
    }
  }

  function renderTerm(term) {
    const fragment = document.createDocumentFragment();
    if (!term) return fragment;
    if (term.type === "uri") {
      const local = localPage(term.value);
      if (!linkable(local || term.value)) {
        const code = document.createElement("code");
        code.title = term.value;
        code.textContent = shortIri(term.value);
        fragment.append(code);
        return fragment;
      }
      const link = document.createElement("a");
      link.href = local || term.value;
      link.title = term.value;
      link.textContent = shortIri(term.value);
      if (!local) link.className = "external";
      fragment.append(link);
    } else if (term.type === "bnode") {
      const code = document.createElement("code");
      code.textContent = "_:" + term.value;
      fragment.append(code);
    } else {
      const span = document.createElement("span");
      span.className = "literal";
      span.textContent = term.value;
      if (term["xml:lang"]) span.lang = term["xml:lang"];
      fragment.append(span);
      const note = term["xml:lang"] || (term.datatype ? shortIri(term.datatype) : null);
      if (note) {
        const small = document.createElement("span");
        small.className = term["xml:lang"] ? "lang" : "datatype";
        small.textContent = note;
        fragment.append(" ", small);
      }
    }
    return fragment;
  }

  // N-Triples as SPARQL JSON bindings, so CONSTRUCT and DESCRIBE results share the table.
  function parseNTriples(text) {
    const termPattern = /<([^>]*)>|_:(\S+)|"((?:[^"\\]|\\.)*)"(?:@([A-Za-z0-9-]+)|\^\^<([^>]*)>)?/g;
    const escapes = { t: "\t", b: "\b", n: "\n", r: "\r", f: "\f" };
    const unescape = (s) => s.replace(/\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)/g,
      (_, e) => (e.length > 1 ? String.fromCodePoint(parseInt(e.slice(1), 16)) : (escapes[e] ?? e)));
    const bindings = [];
    for (const line of text.split("\n")) {
      if (!line.trim() || line.trim().startsWith("#")) continue;
      const terms = [];
      for (const m of line.matchAll(termPattern)) {
        if (m[1] !== undefined) terms.push({ type: "uri", value: m[1] });
        else if (m[2] !== undefined) terms.push({ type: "bnode", value: m[2] });
        else terms.push({ type: "literal", value: unescape(m[3]), "xml:lang": m[4], datatype: m[5] });
        if (terms.length === 3) break;
      }
      bindings.push({ subject: terms[0], predicate: terms[1], object: terms[2] });
    }
    return bindings;
  }

  function offerDownloads(query, formats) {
    downloadButtons.replaceChildren();
    for (const [label, mediaType, extension] of formats) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "download";
      button.textContent = label;
      button.dataset.format = extension;
      button.addEventListener("click", () => download(query, mediaType, extension));
      downloadButtons.append(button, " ");
    }
    downloads.hidden = false;
  }

  async function download(query, mediaType, extension) {
    const response = await sparqlRequest(query, mediaType);
    if (!response.ok) {
      showError((await response.text()).trim());
      return;
    }
    const url = URL.createObjectURL(await response.blob());
    const link = document.createElement("a");
    link.href = url;
    link.download = `yokuryu-results.${extension}`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      run();
    }
  });
  for (const button of document.querySelectorAll("button.example")) {
    button.addEventListener("click", () => {
      textarea.value = button.dataset.query;
      editor.refresh();
      run();
      resultsBox.focus({ preventScroll: true });
      form.scrollIntoView({ behavior: "smooth", block: "start" });
    });
  }
  if (script.dataset.runNow === "true") run();
})();
