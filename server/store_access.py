"""The one way views reach the store and the configuration."""
from __future__ import annotations

from flask import current_app

from yokuryu.graph.store import KnowledgeStore, open_store
from yokuryu.server.config import ServerConfig


def get_store() -> KnowledgeStore:
    return current_app.extensions["yokuryu.store"]


def get_config() -> ServerConfig:
    return current_app.config["YOKURYU"]


def open_configured_store(config: ServerConfig) -> KnowledgeStore:
    """The store the configuration asks for: empty, or holding the (possibly fresh) build."""
    if config.empty:
        return open_store(config.store_path)
    from yokuryu.graph.pipeline import InvalidData, prepare_store

    store, result = prepare_store(config.store_path, engine=config.engine)
    if result is not None and not result.ok:
        raise InvalidData(result.report)
    return store
