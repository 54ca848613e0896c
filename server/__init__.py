"""The Flask application: SPARQL protocol, health, and (in later modules) the graph store
protocol, linked-data pages and the query UI. ``create_app`` does no work at import time."""
from __future__ import annotations

from flask import Flask

from yokuryu.graph.store import KnowledgeStore
from yokuryu.server.config import ServerConfig


def create_app(config: ServerConfig | None = None, store: KnowledgeStore | None = None,
               executor=None) -> Flask:
    """Build the application around ``store`` (a built :class:`KnowledgeStore`).

    Without a store, the bundled graph is built in memory (or the configured on-disk store opened).
    Without an executor, /sparql evaluates queries in threads (``yokuryu serve`` passes query
    processes for an in-memory store: see ``yokuryu.server.query_processes``).
    """
    app = Flask(__name__)
    config = config or ServerConfig.from_env()
    app.config["YOKURYU"] = config
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    if store is None:
        from yokuryu.server.store_access import open_configured_store
        store = open_configured_store(config)
    app.extensions["yokuryu.store"] = store

    from yokuryu.server import errors, health, safe_links, security, sparql
    errors.register(app)
    security.register(app)  # Host names, security headers (writes: see auth.require_write_access)
    safe_links.register(app)  # the link_target filter: no javascript: links in pages
    app.register_blueprint(health.blueprint)
    health.remember_required_files(app)
    app.register_blueprint(sparql.blueprint)
    # SPARQL endpoint (E): query workers with a time limit, the graph store protocol, CORS.
    from yokuryu.server import cors, graph_store
    from yokuryu.server.executor import QueryExecutor
    app.extensions["yokuryu.executor"] = executor or QueryExecutor(store, config.workers, config.query_timeout)
    app.register_blueprint(graph_store.blueprint)
    cors.register(app)
    from yokuryu.server import pages
    pages.register(app)
    # Plain queries skip Flask's request machinery (same checks and answers; see sparql_fast).
    from yokuryu.server.sparql_fast import SparqlFastPath
    app.wsgi_app = SparqlFastPath(app, app.wsgi_app)
    return app
