"""``yokuryu serve``: open or build the store, then serve the app with waitress."""
from __future__ import annotations

import gc
import ipaddress
import logging
import os
import signal
import socket
import sys
import threading
import time

from yokuryu.server.config import ServerConfig
from yokuryu.server.security import LOOPBACK_HOSTS, host_name

log = logging.getLogger(__name__)


def _prepare_writes(store, engine: str) -> None:
    """Make the write path's working copy in a background thread (one reasoning pass; pyoxigraph
    lets requests run meanwhile), so that the first write does not pay for it."""
    import threading

    from yokuryu.graph.transaction import prepare

    def run():
        try:
            prepare(store, engine=engine)
        except Exception:  # noqa: BLE001 - the first write makes the copy itself, and reports
            log.exception("could not prepare the working copy for writes")

    threading.Thread(target=run, name="yokuryu-prepare-writes", daemon=True).start()


def serve(args) -> int:
    from yokuryu.graph.store import open_store
    from yokuryu.server import create_app
    from yokuryu.server.executor import InProcessReads, give_back_freed_memory, store_size

    started = time.monotonic()
    config = ServerConfig.from_env(
        store_path=args.store, empty=args.empty or None, update_token=args.update_token,
        allow_anonymous_updates=args.allow_anonymous_updates or None, query_timeout=args.timeout,
        max_body_bytes=args.max_body_bytes, max_result_bytes=args.max_result_bytes, workers=args.workers,
        query_processes=args.query_processes, read_processes=args.read_processes,
        http_server=args.http_server, max_query_nesting=args.max_query_nesting, max_query_clauses=args.max_query_clauses,
        query_memory=args.query_memory,
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
    # The port is the most likely first error: caught here, before a build of many seconds.
    problem = _check_settings(config, args.host) or port_problem(args.host, args.port)
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
        from yokuryu.graph.pipeline import InvalidData, prepare_store  # the build: only when one may be needed
        try:
            store, result = prepare_store(config.store_path, args.data_files, rebuild=args.rebuild, engine=config.engine)
        except InvalidData as error:
            print(error, file=sys.stderr)
            return 1
        if result is not None and not result.ok:
            print(result.report.as_text(), file=sys.stderr)
            return 1
        # The build's rdflib graphs, report and quad list are in the store now: not kept for the
        # server's lifetime, nor forked into every query process.
        del result
    journal, replayed = None, 0
    if config.journal_path:
        from yokuryu.graph.journal import Journal, JournalError
        try:
            journal, replayed = Journal.open(config.journal_path, store.built_digest() or "empty", store.oxigraph)
        except JournalError as error:
            print(f"yokuryu serve: {error}", file=sys.stderr)
            return 2
        store.incremental = None  # the fast engine's working copy, if any, predates the journal
        store.count_change(None, None)
        store.touch()
        log.info("replayed %d journalled writes from %s", replayed, config.journal_path)
    # Counted once, here: after the fork below, a walk over the whole in-memory store would make
    # this process copy the store's pages that it shares with the query processes.
    store.quad_count()
    gc.collect()  # what the build and the journal's replay left behind, before the zygote shares it
    local = executor is None
    if local:
        # Measured before the fork: a scan in the server afterwards would copy the pages it shares.
        # (An on-disk store shares no pages with the query processes: measured after the start.)
        size = store_size(store) if config.in_process_reads and not store.is_persistent else None
        if size is not None:
            give_back_freed_memory()  # the measurement's grouping, which every fork would otherwise share
    if journal is not None:
        # A long journal's snapshot is written by a forked child while the server starts and answers
        # (graph/journal.py); forked here, like the zygote, before any thread or socket.
        journal.compact_in_background(store.oxigraph)
    readers = None
    if local:
        # Start the query zygote now, before the HTTP server starts any thread or opens its socket.
        # On disk the bound of in-process reads is measured after the start; the readers wait for it.
        reads_here = config.in_process_reads and (size is not None or store.is_persistent)
        if reads_here and config.read_processes > 1:
            from yokuryu.server.read_processes import import_what_readers_run
            import_what_readers_run(config.http_server)  # before the zygote: shared with the readers it forks
        executor = _query_processes(store, config)
        if executor is not None and reads_here and config.read_processes > 1:
            from yokuryu.server import read_processes
            if read_processes.supported(store):  # forked from the zygote once the socket is bound, below
                readers = executor = read_processes.ReadProcesses(executor, store, config.read_processes - 1)
        if executor is not None and config.in_process_reads:  # bounded queries skip the process hop
            executor = (InProcessReads(store, executor, size, config.in_process_reads_memory) if size is not None
                        else InProcessReads.measured_later(store, executor, start=readers is None))
            if readers is not None:
                readers.front = executor  # a reader forked later starts with the bound raised by writes since
    app = create_app(config, store, executor=executor)
    if not config.empty and not config.remote_query and (config.update_token or config.allow_anonymous_updates):
        _prepare_writes(store, config.engine)
    if journal is not None:
        app.extensions["yokuryu.journal"] = journal
    if readers is not None:  # each process listens on a socket of its own on the same port
        from yokuryu.server.read_processes import listening_socket
        sock = listening_socket(args.host, args.port)
        bind_to = (sock.family, sock.type, sock.proto, sock.getsockname())
        http = HTTP_SERVERS[config.http_server](app, args.host, args.port, config, sock=sock)
        readers.start(app, config, bind_to, size)
        if readers.front is not None and readers.front.size is None:
            readers.front.start_measuring()  # after the readers started: it holds the write lock for seconds at 1M
    else:
        http = HTTP_SERVERS[config.http_server](app, args.host, args.port, config)
    host, port = http.host, http.port
    shown = f"[{host}]" if ":" in str(host) else host
    writes = ("writes with a bearer token" if config.update_token else
              "anonymous writes (loopback only)" if config.allow_anonymous_updates else "read-only")
    print(f"Yokuryū ready in {time.monotonic() - started:.1f} s: {store.quad_count()} quads "
          f"({_where(store)}{_journal_note(config, journal, replayed)}; "
          f"{'plain mode' if config.empty else 'knowledge graph'}; {writes}; "
          f"query timeout {config.query_timeout:g} s, "
          f"answers for {', '.join(config.allowed_hosts) if config.allowed_hosts else 'any host name'}, "
          f"{_how_queries_run(executor, config)})", flush=True)
    for line in _extra_inputs(args, config):
        print(line, flush=True)
    print(f"Serving on http://{shown}:{port}/  (SPARQL endpoint: http://{shown}:{port}/sparql)", flush=True)
    try:
        interrupted = http.run()
    except KeyboardInterrupt:  # Ctrl-C: the usual way to stop a server, said in one line
        interrupted = True
    finally:
        app.extensions["yokuryu.executor"].shutdown()
        store.close()
        if journal is not None:
            journal.close()
    if interrupted:
        print("yokuryu serve: interrupted, stopping", file=sys.stderr, flush=True)
    return 0


class _Waitress:
    """waitress: pure Python, a thread per request in flight."""

    def __init__(self, app, host: str, port: int, config: ServerConfig, sock: socket.socket | None = None):
        from waitress.server import create_server
        where = {"sockets": [sock]} if sock is not None else {"host": host, "port": port}
        self.server = create_server(app, ident="yokuryu", clear_untrusted_proxy_headers=True, **where,
                                    **waitress_limits(config))
        self.host, self.port = self.server.effective_host, self.server.effective_port

    def run(self) -> bool:
        self.server.run()
        return False


class _Granian:
    """granian: HTTP parsed by Rust (hyper), the WSGI app called on ``--workers`` + 4 threads.

    Run in this process, as one worker, so the app keeps its store, query processes and
    journal: granian's own ``MPServer`` would fork or spawn the app into other processes.
    Its in-process server (``MTServer``) is made for free-threaded Python and refuses to start
    under the GIL; with a single worker the GIL is no obstacle (it is what each ``MPServer``
    worker does), so that check is skipped. The listening socket is bound here, before the
    banner, so ``--port 0`` can report its port and the banner is true when printed.
    """

    def __init__(self, app, host: str, port: int, config: ServerConfig, sock: socket.socket | None = None):
        from granian.constants import Interfaces
        from granian.http import HTTP1Settings
        from granian.log import LogLevels
        from granian.net import SocketSpec
        from granian.server import MTServer

        class InProcess(MTServer):
            def _check_gil(self):
                pass

            def _init_shared_socket(self):
                self._ssp, self._shd, self._sfd = None, listener, listener.get_fd()

        if sock is not None:  # bound and listening already (each of the read processes gets one)
            from granian.net import SocketHolder
            address, self.port = sock.getsockname()[:2]
            self.host = address
            listener = SocketHolder(sock.detach(), False, 1024)
        else:
            # granian takes an IP address; a name (localhost) is resolved as port_problem() checked it.
            address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0]
            listener = SocketSpec(address, port, 1024).build()  # bound, not yet listening
            with socket.socket(fileno=os.dup(listener.get_fd())) as bound:
                bound.listen(1024)  # connections wait from now on, before the banner says so
                self.host, self.port = bound.getsockname()[:2]
        self.server = InProcess(
            target="yokuryu", address=address, port=self.port, interface=Interfaces.WSGI, workers=1,
            blocking_threads=config.workers + 4,  # as waitress's threads: /health answers while queries run
            # Connections served at once (as waitress's connection_limit): idle ones cost no thread,
            # and a few hundred half-open ones must not lock out /health.
            backpressure=_raise_open_files(1000),
            http1_settings=HTTP1Settings(header_read_timeout=30_000), websockets=False,
            log_level=LogLevels.error)  # not its warning that in-process serving is "experimental"
        from yokuryu.server.slow_bodies import BodiesFirst
        # Slow request bodies may hold --workers HTTP threads, never the four others.
        self.app = BodiesFirst(app, config.max_body_bytes, places=config.workers)
        self.server.on_startup(self._stop_promptly)

    def run(self) -> bool:
        self.server.serve(target_loader=lambda: self.app, wrap_loader=False)
        return bool(self.server.interrupt_signal)

    def _stop_promptly(self) -> None:
        """Ctrl-C and SIGTERM stop the server within a few seconds, as with waitress.

        granian stops gracefully, waiting for the requests in flight; one waiting for a runaway
        query would hold the stop for up to ``--timeout``. So the stop is given a grace period,
        then the process exits (the query processes die with it).
        """
        for number in (signal.SIGINT, signal.SIGTERM):
            graceful = signal.getsignal(number)

            def stop(signum, frame, graceful=graceful):
                timer = threading.Timer(STOP_GRACE_SECONDS, _exit_now, (signum,))
                timer.daemon = True
                timer.start()
                graceful(signum, frame)

            signal.signal(number, stop)


STOP_GRACE_SECONDS = 2.0


def _exit_now(signum: int) -> None:
    print(f"yokuryu serve: stopped ({signal.Signals(signum).name}) without waiting for the requests still "
          "in flight", file=sys.stderr, flush=True)
    os._exit(128 + signum)


def waitress_limits(config: ServerConfig) -> dict:
    """waitress settings that keep the server answering under many or idle connections.

    - ``threads``: one per query worker (each waits on its query) plus four, so /health, pages
      and refusals are served while every worker is busy;
    - ``connection_limit`` and ``channel_timeout``: waitress's default of 100 connections let 105
      idle half-open connections lock everyone out; idle connections are closed after 30 s;
    - ``max_request_body_size``: waitress reads bodies up to this size so that the application
      can answer a body over ``--max-body-bytes`` with its 413 and message (a body waitress cuts
      off itself gets a connection reset, not an answer).
    """
    connections = _raise_open_files(1000)
    return {
        "threads": config.workers + 4,
        "connection_limit": connections,
        "channel_timeout": 30,
        "max_request_body_size": max(64 * 1024 * 1024, 16 * config.max_body_bytes),
    }


HTTP_SERVERS = {"granian": _Granian, "waitress": _Waitress}


def _raise_open_files(wanted: int) -> int:
    """Raise the soft limit on open files for ``wanted`` connections; the connections it allows."""
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted + 200  # the store, the query processes' sockets, logs
        if soft != resource.RLIM_INFINITY and soft < target:
            soft = target if hard == resource.RLIM_INFINITY else min(target, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    except (ImportError, OSError, ValueError):
        return 100
    return max(100, min(wanted, soft - 200))


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
    return store, RemoteQueryExecutor(engine, knowledge_graph=config.union_default_graph)


def _journal_note(config: ServerConfig, journal, replayed: int) -> str:
    if journal is not None:
        return f", writes journalled to {journal.path} ({replayed} replayed)"
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


def _query_processes(store, config: ServerConfig):
    """The query processes; for an on-disk store they cannot read, the thread executor.

    An on-disk store's zygote opens a checkpoint of it (``yokuryu.server.checkpoints``): if that
    fails (no room for the checkpoint's folder in the store's), the store is still served, with
    queries in threads (not killable, not memory-bounded), and the operator is told why.
    """
    from yokuryu.server.query_processes import QueryProcesses
    try:
        return QueryProcesses(store, config.workers, config.query_timeout, config.query_memory,
                              config.query_processes)
    except (OSError, EOFError) as error:
        if not store.is_persistent:
            raise
        print(f"yokuryu serve: WARNING: the query processes could not open a checkpoint of the store ({error}); "
              "queries run in threads, without the memory limit, and a query past --timeout finishes in "
              "the background", file=sys.stderr, flush=True)
        return None


def _how_queries_run(executor, config: ServerConfig) -> str:
    from yokuryu.server.executor import InProcessReads
    from yokuryu.server.query_processes import QueryProcesses
    from yokuryu.server.read_processes import ReadProcesses
    bounded = readers = ""
    if isinstance(executor, InProcessReads):
        executor, bounded = executor.executor, ", bounded ones in this process"
    if isinstance(executor, ReadProcesses):
        readers = f"; {executor.describe()}"
        executor, bounded = executor.queries, ", bounded ones in the process the request reaches"
    if isinstance(executor, QueryProcesses):
        return f"queries in killable processes of at most {config.query_memory} MiB{bounded}{readers}"
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


def _extra_inputs(args, config: ServerConfig) -> list[str]:
    """Banner lines naming what was built in beside the installed data, so nothing is loaded unseen."""
    import os

    if config.empty:
        return []
    from yokuryu.graph.build import user_graph

    lines = [f"  extra file {path} -> graph <{user_graph(path)}>" for path in args.data_files]
    if os.environ.get("YOKURYU_DATA_DIR"):
        lines.insert(0, f"  documents and data from {os.environ['YOKURYU_DATA_DIR']} (--data-dir), "
                        "not the installed ones")
    return (["Built in beside the bundled ontology and shapes:"] + lines) if lines else []


def port_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on ``host:port``, or None (port 0 always works)."""
    import errno

    if port == 0:
        return None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except OSError as error:
        return f"--host {host}: cannot resolve it ({error.strerror or error})"
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as waitress does
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return (f"port {port} on {host} is already in use (another yokuryu serve?); stop it, "
                        "or pick another port with --port N (--port 0 takes any free one)")
            if error.errno == errno.EACCES:
                return f"port {port} on {host} needs privileges; use a port above 1023"
            return f"cannot listen on {host}:{port} ({error.strerror or error})"
    return None
