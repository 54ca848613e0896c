"""``/health``: 200 with the triple count once the store is ready and the app can serve pages;
503 naming what is missing otherwise (e.g. the installed package was replaced under a running
server, so templates, static files or source texts are gone)."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, jsonify

from yokuryu.server.store_access import get_store

blueprint = Blueprint("health", __name__)


def remember_required_files(app) -> None:
    """Note, at start, the files every page needs, so /health can tell when they vanish."""
    from yokuryu.graph.sources import bundled_sources

    required = [Path(app.root_path, app.template_folder, "base.html"), Path(app.static_folder, "style.css")]
    for doc in bundled_sources():
        required += [Path(str(doc.text)), Path(str(doc.metadata))]
    app.extensions["yokuryu.required_files"] = required


@blueprint.get("/health")
def health():
    store = get_store()
    missing = [str(p) for p in current_app.extensions.get("yokuryu.required_files", ()) if not p.is_file()]
    if missing:
        return jsonify(status="unavailable",
                       problem="files the pages need are missing (was the package reinstalled "
                               "under the running server? restart it)",
                       missing=missing), 503
    return jsonify(status="ok", quads=store.quad_count(), graphs=len(store.graph_names()),
                   persistent=store.is_persistent)
