"""Server configuration: one dataclass, filled from defaults, the environment and CLI flags.

Environment variables (each overridden by the matching ``yokuryu serve`` flag):

==============================  ===========================================================
``YOKURYU_STORE``               on-disk store directory (default: in memory)
``YOKURYU_UPDATE_TOKEN``        bearer token that enables SPARQL Update and graph store writes
``YOKURYU_QUERY_TIMEOUT``       seconds a query may run before it is answered with 503 (30)
``YOKURYU_MAX_BODY_BYTES``      largest request body accepted (1 MiB)
``YOKURYU_MAX_RESULT_BYTES``    largest query result served (64 MiB)
``YOKURYU_BASE``                base of the resource IRIs (https://w3id.org/yokuryu/)
``YOKURYU_WORKERS``             requests (and query evaluations) served at once (8)
``YOKURYU_UNION_DEFAULT_GRAPH`` ``false`` makes the default graph the store's own, not the union
==============================  ===========================================================
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields

from yokuryu.ontology import BASE


@dataclass
class ServerConfig:
    store_path: str | None = None
    union_default_graph: bool = True
    update_token: str | None = None
    allow_anonymous_updates: bool = False
    query_timeout: float = 30.0
    max_body_bytes: int = 1024 * 1024
    max_result_bytes: int = 64 * 1024 * 1024
    base_iri: str = BASE
    empty: bool = False
    workers: int = 8

    @classmethod
    def from_env(cls, environ=os.environ, **overrides) -> "ServerConfig":
        config = cls()
        if environ.get("YOKURYU_STORE"):
            config.store_path = environ["YOKURYU_STORE"]
        if environ.get("YOKURYU_UPDATE_TOKEN"):
            config.update_token = environ["YOKURYU_UPDATE_TOKEN"]
        if environ.get("YOKURYU_QUERY_TIMEOUT"):
            config.query_timeout = float(environ["YOKURYU_QUERY_TIMEOUT"])
        if environ.get("YOKURYU_MAX_BODY_BYTES"):
            config.max_body_bytes = int(environ["YOKURYU_MAX_BODY_BYTES"])
        if environ.get("YOKURYU_MAX_RESULT_BYTES"):
            config.max_result_bytes = int(environ["YOKURYU_MAX_RESULT_BYTES"])
        if environ.get("YOKURYU_WORKERS"):
            config.workers = int(environ["YOKURYU_WORKERS"])
        if environ.get("YOKURYU_UNION_DEFAULT_GRAPH"):
            config.union_default_graph = environ["YOKURYU_UNION_DEFAULT_GRAPH"].lower() not in ("0", "false", "no")
        if environ.get("YOKURYU_BASE"):
            config.base_iri = environ["YOKURYU_BASE"]
        known = {f.name for f in fields(cls)}
        for key, value in overrides.items():
            if key not in known:
                raise TypeError(f"unknown server setting {key!r}")
            if value is not None:
                setattr(config, key, value)
        return config
