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
  const pager = document.getElementById("pager");
  const pageStatus = document.getElementById("page-status");
  const historyBox = document.getElementById("history");
  const historyList = document.getElementById("history-list");
  const PAGE_SIZE = 100;
  const HISTORY_KEY = "yokuryu.queryHistory";
  const HISTORY_SIZE = 20;
  // Numbers read as numbers: their datatype is noise to a reader ("60000", not "60000 xsd:integer").
  const XSD = "http://www.w3.org/2001/XMLSchema#";
  const NUMERIC = new Set(["integer", "decimal", "double", "float", "int", "long", "short", "byte",
    "nonNegativeInteger", "positiveInteger", "negativeInteger", "nonPositiveInteger",
    "unsignedInt", "unsignedLong", "unsignedShort", "unsignedByte"].map((t) => XSD + t));
  let current = { vars: [], bindings: [], page: 0 };

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
    pager.hidden = true;
    resultsBox.replaceChildren();
    remember(query);
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

  // Long results are shown a page at a time; downloads always hold everything.
  function renderTable(vars, bindings) {
    current = { vars, bindings, page: 0 };
    showPage();
    return bindings.length;
  }

  function showPage() {
    const { vars, bindings, page } = current;
    const pages = Math.max(1, Math.ceil(bindings.length / PAGE_SIZE));
    resultsBox.querySelector("table.results")?.remove();
    const slice = bindings.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
    drawTable(vars, slice);
    pager.hidden = pages < 2;
    pageStatus.textContent = `rows ${page * PAGE_SIZE + 1}–${page * PAGE_SIZE + slice.length} of ${bindings.length}`;
    document.getElementById("previous-page").disabled = page === 0;
    document.getElementById("next-page").disabled = page >= pages - 1;
    nameThings(resultsBox);
  }

  // Replace each link's text (an IRI) by the thing's label, asked of /labels in one request.
  async function nameThings(container) {
    const links = [...container.querySelectorAll("table.results a[title]")];
    const iris = [...new Set(links.map((a) => a.title))];
    if (!iris.length) return;
    let names;
    try {
      const response = await fetch("/labels", { method: "POST", body: new URLSearchParams(iris.map((i) => ["iri", i])) });
      if (!response.ok) return;
      names = await response.json();
    } catch (failure) {
      return; // the IRIs stay readable as they are
    }
    for (const link of links) {
      const named = names[link.title];
      if (named && named.label && named.label !== link.title) {
        link.textContent = named.label;
        link.dataset.iri = shortIri(link.title);
      }
    }
  }

  function remember(query) {
    let past = [];
    try {
      past = JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]").filter((q) => q !== query);
      past.unshift(query);
      localStorage.setItem(HISTORY_KEY, JSON.stringify(past.slice(0, HISTORY_SIZE)));
    } catch (failure) {
      return; // storage may be disabled; the history is a convenience
    }
    showHistory();
  }

  function showHistory() {
    let past = [];
    try {
      past = JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]");
    } catch (failure) {
      past = [];
    }
    historyList.replaceChildren();
    for (const query of past) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "history-entry";
      button.textContent = query.length > 140 ? query.slice(0, 140) + " …" : query;
      button.title = query;
      button.addEventListener("click", () => {
        textarea.value = query;
        editor.refresh();
        run();
      });
      item.append(button);
      historyList.append(item);
    }
    historyBox.hidden = past.length === 0;
  }

  function drawTable(vars, bindings) {
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
    if (documentPath === "shapes") return "/shapes" + anchor;
    if (documentPath.startsWith("ontology/")) return "/ontology";
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
      const numeric = NUMERIC.has(term.datatype);
      span.className = numeric ? "literal number" : "literal";
      span.textContent = term.value;
      if (numeric) span.title = shortIri(term.datatype);
      if (term["xml:lang"]) span.lang = term["xml:lang"];
      fragment.append(span);
      const note = term["xml:lang"] || (term.datatype && !numeric ? shortIri(term.datatype) : null);
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

  document.getElementById("previous-page").addEventListener("click", () => { current.page -= 1; showPage(); });
  document.getElementById("next-page").addEventListener("click", () => { current.page += 1; showPage(); });
  document.getElementById("clear-history").addEventListener("click", () => {
    try { localStorage.removeItem(HISTORY_KEY); } catch (failure) { /* nothing kept */ }
    showHistory();
  });
  showHistory();

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
