"""Server configuration: one dataclass, filled from defaults, the environment and CLI flags.

Environment variables (each overridden by the matching ``yokuryu serve`` flag):

==============================  ===========================================================
``YOKURYU_STORE``               on-disk store directory (default: in memory)
``YOKURYU_JOURNAL``             journal file that keeps the in-memory store's writes across restarts
``YOKURYU_UPDATE_TOKEN``        bearer token that enables SPARQL Update and graph store writes
``YOKURYU_QUERY_TIMEOUT``       seconds a query may run before it is answered with 503 (30)
``YOKURYU_MAX_BODY_BYTES``      largest request body accepted (1 MiB)
``YOKURYU_MAX_RESULT_BYTES``    largest query result served (64 MiB)
``YOKURYU_BASE``                base of the resource IRIs (https://w3id.org/yokuryu/)
``YOKURYU_WORKERS``             requests (and query evaluations) served at once (8)
``YOKURYU_HTTP_SERVER``         ``granian`` (HTTP parsed in Rust) or ``waitress`` (pure Python)
``YOKURYU_UNION_DEFAULT_GRAPH`` ``false`` makes the default graph the store's own, not the union
``YOKURYU_MAX_QUERY_NESTING``   deepest nesting of brackets/braces in a query or update (100)
``YOKURYU_MAX_QUERY_CLAUSES``   most clauses and operators in a query or update (1000)
``YOKURYU_QUERY_MEMORY``        MiB of memory one query may use, else 503 (1024)
``YOKURYU_REMOTE_QUERY``        SPARQL query URL of a remote server that holds the data
``YOKURYU_REMOTE_UPDATE``       its SPARQL update URL (writes go there, after Yokuryū's checks)
``YOKURYU_REMOTE_STORE``        its Graph Store Protocol URL, if it has one (faster bulk loads)
``YOKURYU_REMOTE_AUTH``         ``Authorization`` header value sent to it (``Basic …``, ``Bearer …``)
``YOKURYU_ALLOWED_HOSTS``       comma-separated host names the server answers for (loopback names
                                when it listens on loopback; any otherwise)
``YOKURYU_MAX_WRITE_QUADS``     most quads one write may send or change (100000)
``YOKURYU_MAX_WRITE_EXPANSION`` most an RDF body may grow when parsed: N-Quads bytes per body byte (64)
``YOKURYU_MAX_RDF_DEPTH``       deepest bracket nesting accepted in an RDF body (64)
==============================  ===========================================================
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

from yokuryu.ontology import BASE


@dataclass
class ServerConfig:
    store_path: str | None = None
    journal_path: str | None = None
    union_default_graph: bool = True
    update_token: str | None = None
    allow_anonymous_updates: bool = False
    query_timeout: float = 30.0
    max_body_bytes: int = 1024 * 1024
    max_result_bytes: int = 64 * 1024 * 1024
    base_iri: str = BASE
    empty: bool = False
    # Queries evaluated at once: two more than the cores (a cheap query is not stuck behind heavy
    # ones), at most 8; as threads of ``query_processes`` processes. Each process that scans the
    # in-memory store copies much of it (once, shared by its threads), so one process by default.
    workers: int = field(default_factory=lambda: min(8, (os.cpu_count() or 2) + 2))
    query_processes: int = 1
    # Processes answering HTTP requests for the in-memory store: this one plus forked readers that
    # share its port (server/read_processes.py); 0 or 1: this process alone. Default: the cores, at most 4.
    read_processes: int = field(default_factory=lambda: min(4, os.cpu_count() or 1))
    # MiB a reader may grow by (copies of the store's pages it read) before a fresh fork replaces it.
    read_process_memory: int = 64
    http_server: str = "granian"
    engine: str = "fast"  # validation and reasoning of builds and writes: fast or reference
    max_query_nesting: int = 100
    max_query_clauses: int = 1000
    query_memory: int = 1024  # MiB
    remote_query: str | None = None
    remote_update: str | None = None
    remote_store: str | None = None
    remote_auth: str | None = None
    # Host names (no port) this server answers for; None: any (see yokuryu.server.security).
    allowed_hosts: tuple[str, ...] | None = None
    # Untrusted RDF bodies (graph store writes): see yokuryu.graph.untrusted_rdf.
    max_write_quads: int = 100_000
    max_write_expansion: int = 64
    max_rdf_depth: int = 64
    # Queries whose cost is bounded in advance (graph/bounded_query.py) skip the query processes.
    in_process_reads: bool = True
    # In memory: while the server process's own memory (MiB, private pages: what those reads copy
    # of the store it shares with the query processes) is above this, they go to the query
    # processes instead (see executor.InProcessReads and server/own_memory.py); 0: no limit.
    in_process_reads_memory: int = 128

    @classmethod
    def from_env(cls, environ=os.environ, **overrides) -> "ServerConfig":
        """Defaults, then ``YOKURYU_*`` variables, then ``overrides`` (the CLI flags; None = unset).

        Raises :class:`ConfigError`, naming the variable or flag, for a value that cannot work.
        """
        config = cls()
        for variable, (name, parse) in _ENVIRONMENT.items():
            raw = environ.get(variable)
            if raw:
                try:
                    setattr(config, name, parse(raw))
                except ValueError:
                    raise ConfigError(f"{variable}={raw!r} is not a valid value ({_EXPECTED[parse]})") from None
        known = {f.name for f in fields(cls)}
        for key, value in overrides.items():
            if key not in known:
                raise TypeError(f"unknown server setting {key!r}")
            if value is not None:
                setattr(config, key, value)
        config.check()
        return config

    def check(self) -> None:
        """Refuse limits that would make the server useless, with the setting to change."""
        if self.query_timeout <= 0:
            raise ConfigError(f"the query timeout must be above 0 seconds, not {self.query_timeout:g} "
                              "(--timeout or YOKURYU_QUERY_TIMEOUT)")
        if self.workers < 1:
            raise ConfigError(f"--workers (YOKURYU_WORKERS) must be at least 1, not {self.workers}")
        if self.query_processes < 1:
            raise ConfigError("--query-processes (YOKURYU_QUERY_PROCESSES) must be at least 1, "
                              f"not {self.query_processes}")
        if self.read_processes < 0:
            raise ConfigError(f"--read-processes (YOKURYU_READ_PROCESSES) must be 0 or more, not {self.read_processes}")
        if self.http_server not in ("granian", "waitress"):
            raise ConfigError(f"--http-server (YOKURYU_HTTP_SERVER) is granian or waitress, not {self.http_server!r}")
        if (self.remote_update or self.remote_store) and not self.remote_query:
            raise ConfigError("--remote-update and --remote-store need --remote-query URL (YOKURYU_REMOTE_QUERY) too")
        if self.journal_path and (self.store_path or self.remote_query):
            raise ConfigError("--journal keeps the writes of the in-memory store; an on-disk store (--store) or a "
                              "remote server keeps its own, so give --journal without them")
        if self.remote_query and self.store_path:
            raise ConfigError("--store PATH and --remote-query URL are two places for the data; give one")
        for name, flag in (("max_body_bytes", "--max-body-bytes"), ("max_result_bytes", "--max-result-bytes")):
            if getattr(self, name) < 1:
                raise ConfigError(f"{flag} must be at least 1 byte, not {getattr(self, name)}")
        for name, flag, least in (("max_query_nesting", "--max-query-nesting", 1),
                                  ("max_query_clauses", "--max-query-clauses", 1),
                                  ("query_memory", "--query-memory", 64),
                                  ("read_process_memory", "YOKURYU_READ_PROCESS_MEMORY", 1)):
            if getattr(self, name) < least:
                raise ConfigError(f"{flag} must be at least {least}, not {getattr(self, name)}")
        for name, flag, variable in (("max_write_quads", "--max-write-quads", "YOKURYU_MAX_WRITE_QUADS"),
                                     ("max_write_expansion", "--max-write-expansion", "YOKURYU_MAX_WRITE_EXPANSION"),
                                     ("max_rdf_depth", "--max-rdf-depth", "YOKURYU_MAX_RDF_DEPTH")):
            if getattr(self, name) < 1:
                raise ConfigError(f"{flag} ({variable}) must be at least 1, not {getattr(self, name)}")
        if self.in_process_reads_memory < 0:
            raise ConfigError("YOKURYU_IN_PROCESS_READS_MEMORY is MiB of the server's own memory (0: no limit), "
                              f"not {self.in_process_reads_memory}")
        if self.max_rdf_depth > MAX_SAFE_RDF_DEPTH:
            raise ConfigError(f"--max-rdf-depth (YOKURYU_MAX_RDF_DEPTH) above {MAX_SAFE_RDF_DEPTH} would let a "
                              f"request overflow the parser's stack; {self.max_rdf_depth} is refused")
        if self.allowed_hosts is not None and not self.allowed_hosts:
            raise ConfigError("--allowed-hosts (YOKURYU_ALLOWED_HOSTS) names no host; give at least one")


# Nesting the RDF parsers survive with room to spare (they crashed at a few thousand levels).
MAX_SAFE_RDF_DEPTH = 1000


class ConfigError(ValueError):
    """A setting that cannot work; the message names the flag or variable to fix."""


def _boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def host_list(raw: str) -> tuple[str, ...]:
    """``a.example, localhost`` → ("a.example", "localhost"): lower case, no ports, none empty."""
    hosts = tuple(h.strip().lower() for h in raw.split(",") if h.strip())
    if not hosts:
        raise ValueError(raw)
    return hosts


_EXPECTED = {float: "a number of seconds", int: "a whole number", str: "text", _boolean: "true or false",
             host_list: "comma-separated host names"}

# Each variable, the setting it fills and how to read it.
_ENVIRONMENT = {
    "YOKURYU_STORE": ("store_path", str),
    "YOKURYU_JOURNAL": ("journal_path", str),
    "YOKURYU_UPDATE_TOKEN": ("update_token", str),
    "YOKURYU_QUERY_TIMEOUT": ("query_timeout", float),
    "YOKURYU_MAX_BODY_BYTES": ("max_body_bytes", int),
    "YOKURYU_MAX_RESULT_BYTES": ("max_result_bytes", int),
    "YOKURYU_WORKERS": ("workers", int),
    "YOKURYU_QUERY_PROCESSES": ("query_processes", int),
    "YOKURYU_READ_PROCESSES": ("read_processes", int),
    "YOKURYU_READ_PROCESS_MEMORY": ("read_process_memory", int),
    "YOKURYU_HTTP_SERVER": ("http_server", str),
    "YOKURYU_UNION_DEFAULT_GRAPH": ("union_default_graph", _boolean),
    "YOKURYU_BASE": ("base_iri", str),
    "YOKURYU_MAX_QUERY_NESTING": ("max_query_nesting", int),
    "YOKURYU_MAX_QUERY_CLAUSES": ("max_query_clauses", int),
    "YOKURYU_QUERY_MEMORY": ("query_memory", int),
    "YOKURYU_REMOTE_QUERY": ("remote_query", str),
    "YOKURYU_REMOTE_UPDATE": ("remote_update", str),
    "YOKURYU_REMOTE_STORE": ("remote_store", str),
    "YOKURYU_REMOTE_AUTH": ("remote_auth", str),
    "YOKURYU_ALLOWED_HOSTS": ("allowed_hosts", host_list),
    "YOKURYU_MAX_WRITE_QUADS": ("max_write_quads", int),
    "YOKURYU_MAX_WRITE_EXPANSION": ("max_write_expansion", int),
    "YOKURYU_MAX_RDF_DEPTH": ("max_rdf_depth", int),
    "YOKURYU_IN_PROCESS_READS": ("in_process_reads", _boolean),
    "YOKURYU_IN_PROCESS_READS_MEMORY": ("in_process_reads_memory", int),
}
