// A SPARQL editor without dependencies: a <textarea> (so typing, selection, undo and screen
// readers work as usual) over a <pre> that shows the same text with syntax highlighting.
"use strict";

const SPARQL_KEYWORDS = new Set((
  "BASE PREFIX SELECT CONSTRUCT DESCRIBE ASK DISTINCT REDUCED FROM NAMED WHERE GRAPH OPTIONAL " +
  "UNION MINUS FILTER BIND VALUES SERVICE SILENT AS ORDER BY ASC DESC LIMIT OFFSET GROUP HAVING " +
  "NOT EXISTS IN UNDEF INSERT DELETE DATA LOAD CLEAR DROP CREATE ADD MOVE COPY WITH USING DEFAULT ALL INTO TO " +
  "COUNT SUM MIN MAX AVG SAMPLE GROUP_CONCAT SEPARATOR STR LANG LANGMATCHES DATATYPE BOUND IRI URI BNODE " +
  "RAND ABS CEIL FLOOR ROUND CONCAT STRLEN UCASE LCASE ENCODE_FOR_URI CONTAINS STRSTARTS STRENDS " +
  "STRBEFORE STRAFTER YEAR MONTH DAY HOURS MINUTES SECONDS TIMEZONE TZ NOW UUID STRUUID MD5 SHA1 " +
  "SHA256 SHA384 SHA512 COALESCE IF STRLANG STRDT SAMETERM ISIRI ISURI ISBLANK ISLITERAL ISNUMERIC " +
  "REGEX SUBSTR REPLACE TRUE FALSE").split(" "));

// One token per alternative, tried in this order at each position.
const SPARQL_TOKEN = new RegExp([
  "(#[^\\n]*)",                                              // 1 comment
  "(<[^<>\"{}|^`\\\\\\s]*>)",                                // 2 IRI
  "(\"\"\"[\\s\\S]*?\"\"\"|'''[\\s\\S]*?'''|\"(?:[^\"\\\\\\n]|\\\\.)*\"|'(?:[^'\\\\\\n]|\\\\.)*')", // 3 string
  "([?$][A-Za-z0-9_\\u00B7\\u00C0-\\uFFFF]+)",               // 4 variable
  "(@[A-Za-z]+(?:-[A-Za-z0-9]+)*)",                          // 5 language tag
  "((?:[A-Za-z][\\w\\-.]*)?:[\\w\\-.%]*)",                   // 6 prefixed name
  "(\\d+(?:\\.\\d+)?(?:[eE][+-]?\\d+)?)",                    // 7 number
  "([A-Za-z_]+)",                                            // 8 word
].join("|"), "gy");

const TOKEN_CLASSES = [null, "com", "iri", "str", "var", "lang", "pn", "num"];

function escapeHtml(text) {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function highlightSparql(text) {
  let html = "";
  let position = 0;
  while (position < text.length) {
    SPARQL_TOKEN.lastIndex = position;
    const match = SPARQL_TOKEN.exec(text);
    if (!match) {
      html += escapeHtml(text[position]);
      position += 1;
      continue;
    }
    const group = match.findIndex((value, index) => index > 0 && value !== undefined);
    let kind = TOKEN_CLASSES[group] || null;
    if (group === 8) {
      kind = SPARQL_KEYWORDS.has(match[0].toUpperCase()) || match[0] === "a" ? "kw" : null;
    }
    html += kind ? `<span class="tok-${kind}">${escapeHtml(match[0])}</span>` : escapeHtml(match[0]);
    position += match[0].length;
  }
  // A trailing newline needs a character after it, or the <pre> is one line short of the textarea.
  return html + "\n";
}

function attachSparqlEditor(textarea, code) {
  const pre = code.parentElement;
  const refresh = () => { code.innerHTML = highlightSparql(textarea.value); };
  const syncScroll = () => { pre.scrollTop = textarea.scrollTop; pre.scrollLeft = textarea.scrollLeft; };
  textarea.addEventListener("input", () => { refresh(); syncScroll(); });
  textarea.addEventListener("scroll", syncScroll);
  refresh();
  return { refresh };
}
