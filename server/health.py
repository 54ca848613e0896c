"""``/health``: 200 with the triple count once the store is ready."""
from __future__ import annotations

from flask import Blueprint, jsonify

from yokuryu.server.store_access import get_store

blueprint = Blueprint("health", __name__)


@blueprint.get("/health")
def health():
    store = get_store()
    return jsonify(status="ok", quads=len(store), graphs=len(store.graph_names()),
                   persistent=store.is_persistent)
