"""``yokuryu serve``: open or build the store, then serve the app with waitress."""
from __future__ import annotations

import ipaddress
import logging
import socket
import sys
import time

from yokuryu.server.config import ServerConfig
from yokuryu.server.security import LOOPBACK_HOSTS, host_name

log = logging.getLogger(__name__)


def serve(args) -> int:
    from waitress.server import create_server

    from yokuryu.graph.pipeline import InvalidData, prepare_store
    from yokuryu.graph.store import open_store
    from yokuryu.server import create_app

    started = time.monotonic()
    config = ServerConfig.from_env(
        store_path=args.store, empty=args.empty or None, update_token=args.update_token,
        allow_anonymous_updates=args.allow_anonymous_updates or None, query_timeout=args.timeout,
        max_body_bytes=args.max_body_bytes, max_result_bytes=args.max_result_bytes, workers=args.workers,
        remote_query=args.remote_query, remote_update=args.remote_update, remote_store=args.remote_store,
        remote_auth=args.remote_auth, journal_path=args.journal, allowed_hosts=args.allowed_hosts,
        max_write_quads=args.max_write_quads, max_write_expansion=args.max_write_expansion,
        max_rdf_depth=args.max_rdf_depth)
    if config.allowed_hosts is None and is_loopback(args.host):
        # Listening on loopback: only local names can be meant; anything else is DNS rebinding.
        config.allowed_hosts = tuple(dict.fromkeys((*LOOPBACK_HOSTS, host_name(args.host))))
    config.engine = args.engine
    if args.union_default_graph is not None:
        config.union_default_graph = args.union_default_graph
    elif config.empty:
        config.union_default_graph = False  # plain mode: the real default graph, as the W3C tests expect
    problem = _check_settings(config, args.host)
    if problem:
        print(f"yokuryu serve: {problem}", file=sys.stderr)
        return 2
    executor = None
    if config.remote_query:
        if args.data_files or args.rebuild:
            print("yokuryu serve: with --remote-query the data is on the remote server; load it with "
                  "'yokuryu build --remote-query URL --remote-update URL [DATA_FILE…]'", file=sys.stderr)
            return 2
        from yokuryu.graph.remote import RemoteError
        try:
            store, executor = open_remote(config)
        except RemoteError as error:
            print(f"yokuryu serve: {error}", file=sys.stderr)
            return 1
    elif config.empty:
        if args.data_files or args.rebuild:
            print("yokuryu serve: --empty serves the store as it is; it takes no data files and no --rebuild",
                  file=sys.stderr)
            return 2
        store = open_store(config.store_path)
    else:
        try:
            store, result = prepare_store(config.store_path, args.data_files, rebuild=args.rebuild, engine=config.engine)
        except InvalidData as error:
            print(error, file=sys.stderr)
            return 1
        if result is not None and not result.ok:
            print(result.report.as_text(), file=sys.stderr)
            return 1
    journal = None
    if config.journal_path:
        from yokuryu.graph.journal import Journal, JournalError, replay
        try:
            journal, pending = Journal.open(config.journal_path, store.built_digest() or "empty")
        except JournalError as error:
            print(f"yokuryu serve: {error}", file=sys.stderr)
            return 2
        replay(store.oxigraph, pending)
        store.touch()
        log.info("replayed %d journalled writes from %s", len(pending), config.journal_path)
    if executor is None and not store.is_persistent:
        # Fork the query zygote now, before waitress starts any thread or opens its socket.
        from yokuryu.server.query_processes import QueryProcesses
        executor = QueryProcesses(store, config.workers, config.query_timeout)
    app = create_app(config, store, executor=executor)
    if journal is not None:
        app.extensions["yokuryu.journal"] = journal
    server = create_server(app, host=args.host, port=args.port, threads=max(1, config.workers),
                           ident="yokuryu", clear_untrusted_proxy_headers=True,
                           max_request_body_size=config.max_body_bytes + 64 * 1024)
    host, port = server.effective_host, server.effective_port
    shown = f"[{host}]" if ":" in str(host) else host
    writes = ("writes with a bearer token" if config.update_token else
              "anonymous writes (loopback only)" if config.allow_anonymous_updates else "read-only")
    print(f"Yokuryū ready in {time.monotonic() - started:.1f} s: {len(store)} quads "
          f"({_where(store)}{_journal_note(config, journal, pending if journal else ())}; "
          f"{'plain mode' if config.empty else 'knowledge graph'}; {writes}; "
          f"query timeout {config.query_timeout:g} s, "
          f"answers for {', '.join(config.allowed_hosts) if config.allowed_hosts else 'any host name'}, "
          f"{_how_queries_run(executor)})", flush=True)
    print(f"Serving on http://{shown}:{port}/  (SPARQL endpoint: http://{shown}:{port}/sparql)", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        app.extensions["yokuryu.executor"].shutdown()
        store.close()
        if journal is not None:
            journal.close()
    return 0


def open_remote(config: ServerConfig):
    """The remote server as the store, and the executor that passes queries through to it."""
    from yokuryu.graph.remote import RemoteEngine, RemoteError, RemoteKnowledgeStore
    from yokuryu.server.remote_executor import RemoteQueryExecutor

    engine = RemoteEngine(config.remote_query, config.remote_update, config.remote_store,
                          timeout=config.query_timeout, authorization=config.remote_auth)
    store = RemoteKnowledgeStore(engine, union_default_graph=config.union_default_graph)
    if not config.empty:
        if not store.is_built:
            raise RemoteError(f"the remote server {config.remote_query} holds no Yokuryū build; load it first with "
                               f"'yokuryu build --remote-query {config.remote_query} --remote-update URL'")
        if config.union_default_graph and not engine.ask("ASK { ?s ?p ?o }"):
            raise RemoteError(f"the remote server {config.remote_query} does not serve the union of its graphs as "
                               "the default graph, which the knowledge graph needs (oxigraph: serve "
                               "--union-default-graph; see docs/scaling-out.md for Fuseki, GraphDB, Virtuoso)")
    return store, RemoteQueryExecutor(engine)


def _journal_note(config: ServerConfig, journal, replayed) -> str:
    if journal is not None:
        return f", writes journalled to {journal.path} ({len(replayed)} replayed)"
    if config.store_path or config.remote_query:
        return ""
    if config.update_token or config.allow_anonymous_updates:
        return (", WRITES ARE NOT KEPT: they are lost when the server stops; "
                "use --journal FILE or --store PATH to keep them")
    return ""


def _where(store) -> str:
    location = getattr(store, "location", None)
    if location:
        return f"on the remote server {location}"
    return "on disk at " + str(store.path) if store.is_persistent else "in memory"


def _how_queries_run(executor) -> str:
    from yokuryu.server.query_processes import QueryProcesses
    if isinstance(executor, QueryProcesses):
        return "queries in killable processes"
    return "queries passed to the remote server" if executor is not None else "queries in threads"


def _check_settings(config: ServerConfig, host: str) -> str | None:
    """A message for settings that must not be combined, or None."""
    if config.allow_anonymous_updates and not is_loopback(host):
        return (f"--allow-anonymous-updates lets anyone who can reach the server change its data, so it is "
                f"accepted only with a loopback --host (127.0.0.1, ::1, localhost), not {host!r}; "
                "use --update-token TOKEN for a server others can reach")
    if config.query_timeout <= 0:
        return "--timeout must be a positive number of seconds"
    if config.max_body_bytes <= 0 or config.max_result_bytes <= 0:
        return "--max-body-bytes and --max-result-bytes must be positive numbers of bytes"
    if config.workers < 1:
        return "--workers must be at least 1"
    return None


def is_loopback(host: str) -> bool:
    """True when every address ``host`` resolves to is a loopback address."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)
