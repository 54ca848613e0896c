"""The ``yokuryu`` command: build, validate, query, export and serve the knowledge graph."""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from importlib import resources
from pathlib import Path
from textwrap import dedent

from yokuryu import __version__

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


EXIT_INTERRUPTED, EXIT_TIMEOUT = 130, 124  # as shells and GNU timeout report them
# Read-only commands whose work happens inside pyoxigraph, where a signal cannot reach Python
# until a query ends: they run in a child process that Ctrl-C or --timeout can stop at once.
# Commands that only read and report run in a child that Ctrl-C kills at once; a build into a
# store stays in-process so that an interrupt never SIGKILLs it half-way through a write.
KILLABLE_COMMANDS = {"query", "export", "violations", "validate"}

log = logging.getLogger("yokuryu")


class UsageError(Exception):
    """A command line that cannot work as given; the message says how to fix it (exit 2)."""


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    if getattr(args, "data_dir", None):
        # One setting for this process and every process it starts (query workers included).
        os.environ["YOKURYU_DATA_DIR"] = str(Path(args.data_dir).resolve())
    try:
        code = _guarded(args, _preflight)
        if code is not None:
            return code
        _warn_if_checkout_differs(args)
        if _killable(args) and hasattr(os, "fork"):
            return _run_in_child(args)
        return _guarded(args, args.handler)
    except KeyboardInterrupt:
        print(f"yokuryu {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _killable(args) -> bool:
    """Whether the command writes nothing, so that stopping it with SIGKILL loses nothing."""
    if args.command == "build":
        writes_somewhere = (getattr(args, "store", None) or getattr(args, "remote_query", None)
                            or getattr(args, "remote_update", None) or getattr(args, "remote_store", None))
        return not writes_somewhere
    return args.command in KILLABLE_COMMANDS


def _guarded(args, step):
    """Run ``step(args)``, turning every expected failure into one line on stderr and an exit status."""
    from yokuryu.graph.formats import UnknownFormat
    from yokuryu.graph.store import StoreError
    from yokuryu.server.config import ConfigError
    try:
        return step(args)
    except _raised("yokuryu.graph.reasoning", "InconsistentData", "RuleError") as error:  # the data contradicts the ontology, or a rule is broken
        print(f"yokuryu {args.command}: {error}", file=sys.stderr)
        return EXIT_INVALID
    except _raised("yokuryu.graph.pipeline", "InvalidData") as error:  # the graph to query or serve does not conform to the shapes
        print(f"yokuryu {args.command}: cannot use the graph, its data violates the shapes.\n{error}",
              file=sys.stderr)
        return EXIT_INVALID
    except (*_raised("yokuryu.graph.build", "InputError"), UnknownFormat, StoreError, ConfigError, UsageError) as error:
        print(f"yokuryu {args.command}: {error}", file=sys.stderr)
        return EXIT_INVALID if isinstance(error, _raised("yokuryu.graph.build", "InputError")) else EXIT_USAGE
    except SyntaxError as error:  # a SPARQL syntax error from pyoxigraph
        print(f"yokuryu {args.command}: SPARQL syntax error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `yokuryu export | head`: the reader has all it wanted
        _silence_stdout()
        return EXIT_OK
    except KeyboardInterrupt:
        raise
    except OSError as error:  # a file or folder the command line named cannot be used
        where = f" {error.filename}" if error.filename else ""
        print(f"yokuryu {args.command}: cannot use{where}: {error.strerror or error}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as error:  # a bug: still one line, and the traceback on request
        log.debug("traceback", exc_info=True)
        print(f"yokuryu {args.command}: internal error ({type(error).__name__}: {error}); "
              "run with -v for details and please report it", file=sys.stderr)
        if args.verbose:
            import traceback
            traceback.print_exc()
        return EXIT_INVALID


class _NeverRaised(Exception):
    """Stands for the errors of a module that was never imported, so raised nothing."""


def _raised(module: str, *names: str) -> tuple[type[BaseException], ...]:
    """The error classes ``names`` of ``module`` if it was imported. Looked up only once an error
    is caught, so that ``yokuryu serve`` of a store does not import the build (over a second)
    just to name its errors."""
    loaded = sys.modules.get(module)
    return tuple(getattr(loaded, name) for name in names) if loaded is not None else (_NeverRaised,)


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush stays quiet."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _run_in_child(args) -> int:
    """Run the command in a forked child; Ctrl-C or --timeout stop it at once (exit 130 or 124)."""
    timeout = getattr(args, "timeout", None)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: the parent answers Ctrl-C and stops it
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        code = EXIT_INVALID
        try:
            code = _guarded(args, args.handler)
            try:
                sys.stdout.flush()
            except BrokenPipeError:
                _silence_stdout()
        finally:
            os._exit(code)

    def stop_child(*_):
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass

    # A terminated parent takes its child with it, as an interrupted one does.
    signal.signal(signal.SIGTERM, lambda *_: (stop_child(), os._exit(128 + signal.SIGTERM)))
    deadline = time.monotonic() + timeout if timeout else None
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)
                return code if code >= 0 else EXIT_INVALID
            if deadline is not None and time.monotonic() >= deadline:
                stop_child()
                print(f"yokuryu {args.command}: stopped after the {timeout:g} s limit (--timeout); "
                      "narrow the query or raise the limit", file=sys.stderr)
                return EXIT_TIMEOUT
            time.sleep(0.05)  # short: Ctrl-C is answered at once, the child's end within 50 ms
    except KeyboardInterrupt:
        stop_child()
        raise


def _preflight(args) -> None:
    """Checks that need no graph: a bad command line fails at once, before any build."""
    if args.command == "query":
        args.text = _query_text(args)
        # The server's own check, so the command line refuses what the endpoint refuses.
        from yokuryu.graph.query_guard import SparqlRefused, check_sparql
        try:
            check_sparql(args.text, "query")
        except SparqlRefused as error:
            if error.status == 403:
                raise UsageError("SERVICE would make yokuryu fetch data from the network, which it never does "
                                 "(the server refuses it too); load the other data with 'yokuryu build FILE' "
                                 "or 'yokuryu load' and query it here") from None
            raise UsageError(error.message) from None
        if args.timeout is not None and args.timeout <= 0:
            raise UsageError("--timeout must be a positive number of seconds")
    if args.command == "export" and args.output:
        _check_output_file(Path(args.output))
    if getattr(args, "store", None) and args.command in ("query", "export", "violations"):
        _check_built_store_exists(Path(args.store))


def _query_text(args) -> str:
    """The query from the command line, ``-f FILE`` (``-`` for stdin), or ``--cq N``."""
    given = [x for x in (args.query, args.file, args.cq) if x is not None]
    if len(given) != 1:
        raise UsageError("give the query text, -f FILE (- for standard input) or --cq N (exactly one)")
    if args.query is not None:
        return args.query
    if args.file == "-":
        return sys.stdin.read()
    bundled = resources.files("yokuryu.graph") / "queries"
    if args.cq is not None:
        file = bundled / f"cq{args.cq:02d}.rq"
        if not file.is_file():
            numbers = sorted(int(f.name[2:4]) for f in bundled.iterdir() if f.name.startswith("cq"))
            raise UsageError(f"--cq {args.cq}: no such competency question; the bundled ones are "
                             f"{numbers[0]}–{numbers[-1]}")
        return file.read_text(encoding="utf-8")
    path = Path(args.file)
    if path.is_file():
        return path.read_text(encoding="utf-8")
    if path.is_dir():
        raise UsageError(f"-f {path}: is a folder; give a query file")
    # graph/queries/cq01.rq names a bundled query: found in the installed package from any folder.
    if path.parent.name in ("", "queries") and (bundled / path.name).is_file():
        log.info("reading the bundled query %s (no file %s here)", path.name, path)
        return (bundled / path.name).read_text(encoding="utf-8")
    raise UsageError(f"-f {path}: no such file (the bundled queries are graph/queries/cq01.rq … or --cq N)")


def _check_output_file(path: Path) -> None:
    if path.is_dir():
        raise UsageError(f"-o {path}: is a folder; give a file name, e.g. -o {path / 'yokuryu.trig'}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"-o {path}: the folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"-o {path}: cannot write into {folder} (permission denied)")


def _check_built_store_exists(path: Path) -> None:
    """Reading commands never create a store (pyoxigraph would make the folder and its files)."""
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        raise UsageError(f"--store {path}: no store there; build one with 'yokuryu build --store {path}'")


def _warn_if_checkout_differs(args) -> None:
    """Files added to a checkout's graph/ are not in an installed Yokuryū: say so instead of ignoring them."""
    if args.command not in ("build", "validate", "query", "export", "violations", "serve") \
            or os.environ.get("YOKURYU_DATA_DIR") or getattr(args, "empty", False):
        return
    from yokuryu.graph.sources import data_root
    checkout = Path.cwd() / "graph"
    installed = data_root()
    if not (checkout / "sources").is_dir() or not (Path.cwd() / "pyproject.toml").is_file():
        return
    try:
        if checkout.resolve() == Path(str(installed)).resolve():
            return  # an editable install: the checkout is what runs
    except OSError:
        return

    def contents(folder) -> dict[str, bytes]:
        found = {}
        for sub in ("sources", "data"):
            part = folder / sub
            if part.is_dir():
                found.update({f"{sub}/{f.name}": f.read_bytes() for f in part.iterdir()
                              if f.is_file() and not f.name.startswith(".")})
        return found

    here, there = contents(checkout), contents(installed)
    if here != there:
        changed = sorted(n for n in set(here) | set(there) if here.get(n) != there.get(n))
        log.warning("this checkout's graph/ differs from the data installed with yokuryu (%s%s); the installed "
                    "data is used: pass --data-dir graph to use the checkout's, or run 'pip install .' again",
                    ", ".join(changed[:3]), " …" if len(changed) > 3 else "")


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line (the usage itself is one --help away)."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="yokuryu",
        description="Yokuryū: a linked-data knowledge graph of Japanese prisoners of war in the Soviet Union.",
        epilog="Run 'yokuryu COMMAND --help' for the options and an example of each command.",
    )
    parser.add_argument("--version", action="version", version=f"yokuryu {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what each step does")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name, handler, help_, example):
        sub = commands.add_parser(name, help=help_, description=help_,
                                  epilog="example:\n" + dedent(example).strip("\n"),
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.set_defaults(handler=handler)
        return sub

    sub = command("build", cmd_build, "Parse, validate (SHACL), reason (OWL-RL) and store the graph.", """
        yokuryu build --store ./yokuryu-store my-camps.ttl
          builds the bundled graph plus my-camps.ttl (its own named graph) into an on-disk store;
          exits 1 and prints the validation report if the data violates the shapes""")
    sub.add_argument("data_files", nargs="*", metavar="DATA_FILE",
                     help="extra RDF files (Turtle, TriG, N-Triples, N-Quads, JSON-LD, RDF/XML), each its own named graph")
    sub.add_argument("--store", metavar="PATH", help="on-disk store directory (default: build in memory and only report)")
    sub.add_argument("--rebuild", action="store_true", help="rebuild even if the store already holds a build")
    sub.add_argument("--format", choices=("text", "json", "turtle"), default="text", help="format of a validation report")
    _remote_arguments(sub, "load the build into")
    sub.add_argument("--engine", choices=("fast", "reference"), default="fast",
                     help="fast: shapes and OWL-RL rules compiled to SPARQL on pyoxigraph (falls back to "
                          "reference for what it cannot compile); reference: pyshacl and owlrl (default fast)")
    sub.add_argument("-q", "--quiet", action="store_true", help="no progress display (it shows only on a terminal)")

    sub = command("validate", cmd_validate, "Validate the bundled data (and extra files) against the shapes; exit 0 or 1.", """
        yokuryu validate my-camps.ttl --format json""")
    sub.add_argument("data_files", nargs="*", metavar="DATA_FILE", help="extra RDF files to validate with the bundled data")
    sub.add_argument("--format", choices=("text", "json", "turtle"), default="text", help="report format (default text)")
    sub.add_argument("--engine", choices=("fast", "reference"), default="fast",
                     help="fast: shapes and OWL-RL rules compiled to SPARQL on pyoxigraph (falls back to "
                          "reference for what it cannot compile); reference: pyshacl and owlrl (default fast)")

    sub = command("update", cmd_update,
                  "Apply a SPARQL Update to an on-disk store: validated, reasoned over and committed, or refused whole.", """
        yokuryu update --store ./yokuryu-store 'INSERT DATA { GRAPH <https://w3id.org/yokuryu/graph/user/notes> { <https://example.org/camp-7> rdfs:label "Camp 7"@en } }'
        yokuryu update --store ./yokuryu-store -f my-change.ru --format json
          exits 1 with the validation report when the data after the write would break a shape
          (nothing is applied), 2 for a syntax error or a write into a protected graph""")
    sub.add_argument("update", nargs="?", help="the SPARQL Update text")
    sub.add_argument("-f", "--file", metavar="FILE", help="read the update from FILE instead")
    sub.add_argument("--store", metavar="PATH", required=True,
                     help="the on-disk store, built by 'yokuryu build --store PATH'")
    sub.add_argument("--format", choices=("text", "json", "turtle"), default="text",
                     help="format of a validation report when the write is refused")
    sub.add_argument("--engine", choices=("fast", "reference"), default="fast",
                     help="fast: validate and reason with the compiled shapes and rules (falls back to "
                          "reference for what they cannot do); reference: pyshacl and owlrl (default fast)")

    sub = command("load", cmd_load,
                  "Bulk-load RDF files into an on-disk store, checked like a write: all files applied, or none.", """
        yokuryu load --store ./yokuryu-store camps.ttl registry.nq
          into a built store, each Turtle/N-Triples/… file becomes its graph <…/graph/user/FILE-STEM>
          (TriG/N-Quads keep their own graphs), validated and reasoned over as one write; exits 1 with
          the validation report and loads nothing if the result would break a shape. Into a plain
          store (served with --empty) the quads are added as they are (triples into the default
          graph), in one transaction.""")
    sub.add_argument("files", nargs="+", metavar="FILE", help="RDF files (format from the extension)")
    sub.add_argument("--store", metavar="PATH", required=True, help="the on-disk store directory (created if missing)")
    sub.add_argument("--format", choices=("text", "json", "turtle"), default="text",
                     help="format of a validation report when the load is refused")
    sub.add_argument("--engine", choices=("fast", "reference"), default="fast",
                     help="fast: shapes and OWL-RL rules compiled to SPARQL on pyoxigraph (falls back to "
                          "reference for what it cannot compile); reference: pyshacl and owlrl (default fast)")
    sub.add_argument("-q", "--quiet", action="store_true", help="no progress display (it shows only on a terminal)")

    sub = command("backup", cmd_backup, "Copy an on-disk store while nothing else has it open.", """
        yokuryu backup --store ./yokuryu-store ./backups/2026-12-03
          a new store directory (serve it with --store); hard links where the file system allows
        yokuryu backup --store ./yokuryu-store yokuryu.nq
          one N-Quads (or .trig) file with every graph, loadable with 'yokuryu load' or any RDF tool""")
    sub.add_argument("dest", metavar="DEST", help="a new directory, or a file ending in .nq or .trig")
    sub.add_argument("--store", metavar="PATH", required=True, help="the on-disk store directory")

    sub = command("query", cmd_query, "Run a SPARQL query on the graph and print the results.", """
        yokuryu query 'SELECT ?treaty ?label WHERE { ?treaty a <https://w3id.org/yokuryu/ontology#Treaty> ; rdfs:label ?label }' --format table
        yokuryu query --cq 1 --format csv
          runs the bundled competency question 1 (graph/queries/cq01.rq; -f graph/queries/cq01.rq works too)
        echo 'ASK { res:japan a yk:State }' | yokuryu query -f - --timeout 10""")
    sub.add_argument("query", nargs="?", help="the SPARQL query text")
    sub.add_argument("-f", "--file", metavar="FILE",
                     help="read the query from FILE ('-' for standard input); a bundled graph/queries/NAME.rq "
                          "is found from any folder")
    sub.add_argument("--cq", type=int, metavar="N", help="run the bundled competency question N (cq01.rq … )")
    sub.add_argument("--timeout", type=float, metavar="SECONDS",
                     help="stop the query after SECONDS (exit 124); Ctrl-C stops it at any time (exit 130)")
    sub.add_argument("--format", choices=("table", "json", "xml", "csv", "tsv", "turtle", "ntriples", "nquads", "trig"),
                     default=None, help="output format (default: table for SELECT/ASK, turtle for CONSTRUCT/DESCRIBE)")
    sub.add_argument("--store", metavar="PATH", help="query an on-disk store built by 'yokuryu build --store PATH'")
    sub.add_argument("--no-union-default-graph", dest="union", action="store_false",
                     help="the default graph is the store's real default graph, not the union of all graphs")

    sub = command("export", cmd_export, "Write the graph (or one named graph) as RDF.", """
        yokuryu export --format nquads -o yokuryu.nq
        yokuryu export --format turtle --graph inferred""")
    sub.add_argument("--format", default="trig", choices=("trig", "nquads", "turtle", "ntriples", "jsonld", "rdfxml"),
                     help="RDF format (default trig); turtle/ntriples/rdfxml of 'all' write the union of all graphs")
    sub.add_argument("--graph", default="all", metavar="NAME",
                     help="'all' (default), a short name (ontology, shapes, external, inferred, metadata, source/<doc>, user/<file>) or a graph IRI")
    sub.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    sub.add_argument("--store", metavar="PATH", help="export an on-disk store instead of a fresh in-memory build")

    sub = command("violations", cmd_violations,
                  "List the treaty violations the rules derived, each with its premises and evidence.", """
        yokuryu violations
          prints each violation: instrument, provision and its text, agent, act, overlap period,
          the rule, and the citations and source sentences behind every premise
        yokuryu violations --format json --store ./yokuryu-store""")
    sub.add_argument("--format", choices=("text", "json", "turtle"), default="text",
                     help="text (default), json, or turtle (the violation resources of the inferred graph)")
    sub.add_argument("--store", metavar="PATH", help="read an on-disk store instead of a fresh in-memory build")

    sub = command("serve", cmd_serve, "Serve the graph: SPARQL endpoint, linked-data pages and query UI.", """
        yokuryu serve --port 8000
          then open http://127.0.0.1:8000/ ; machines query http://127.0.0.1:8000/sparql
        yokuryu serve --store ./yokuryu-store --workers 8
        yokuryu serve --update-token "$TOKEN"
          accepts SPARQL Update and graph store writes sent with 'Authorization: Bearer $TOKEN'
        yokuryu serve --empty --allow-anonymous-updates --port 3030
          a plain, empty SPARQL 1.1 server for local tools and conformance tests""")
    sub.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sub.add_argument("--port", type=_port, default=8000, help="port (default 8000; 0 picks a free one)")
    sub.add_argument("--store", metavar="PATH", help="on-disk store (built on first use; reopened later without rebuilding)")
    sub.add_argument("--rebuild", action="store_true", help="rebuild the on-disk store even if it holds a build")
    sub.add_argument("--journal", metavar="FILE",
                     help="keep the in-memory store's writes: each is appended to FILE and flushed to disk before "
                          "it is answered, and FILE is replayed at the next start (YOKURYU_JOURNAL)")
    sub.add_argument("--workers", type=int, default=None, metavar="N",
                     help="queries evaluated at once, as threads of the killable query processes (default: the "
                          "cores + 2, at most 8; YOKURYU_WORKERS)")
    sub.add_argument("--query-processes", type=int, default=None, metavar="N",
                     help="query processes the --workers threads are spread over; each holds a copy-on-write copy "
                          "of the store (forked from the in-memory store, or loaded from a dump of --store PATH) "
                          "and copies the pages a scan walks (default 1; YOKURYU_QUERY_PROCESSES)")
    sub.add_argument("--read-processes", type=int, default=None, metavar="N",
                     help="processes answering HTTP requests for the in-memory store, sharing its port: this one "
                          "plus N-1 readers forked from the query zygote (sharing the store's memory), each "
                          "answering bounded queries itself and passing everything else to this one; 0 or 1: "
                          "this process alone; an on-disk or remote store always has one (default: the cores, "
                          "at most 4; YOKURYU_READ_PROCESSES)")
    sub.add_argument("--http-server", choices=("granian", "waitress"), default=None,
                     help="the HTTP server: granian (HTTP in Rust, the faster) or waitress (pure Python) "
                          "(default granian; YOKURYU_HTTP_SERVER)")
    sub.add_argument("--empty", action="store_true",
                     help="plain SPARQL server: an empty store (or --store as it is), no bundled graph, "
                          "no reasoning or validation; the default graph is the store's real default graph")
    sub.add_argument("--update-token", metavar="TOKEN",
                     help="enable SPARQL Update and graph store writes for 'Authorization: Bearer TOKEN' "
                          "(or set YOKURYU_UPDATE_TOKEN; default: read-only)")
    sub.add_argument("--allow-anonymous-updates", action="store_true",
                     help="accept writes without a token; refused unless --host is a loopback address")
    sub.add_argument("--union-default-graph", dest="union_default_graph", action=argparse.BooleanOptionalAction,
                     default=None, help="the default graph is the union of all graphs (default on; off with --empty)")
    sub.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                     help="a query running longer is answered 503 and its process killed "
                          "(default 30; YOKURYU_QUERY_TIMEOUT)")
    sub.add_argument("--max-body-bytes", type=int, default=None, metavar="N",
                     help="largest request body accepted, else 413 (default 1048576; YOKURYU_MAX_BODY_BYTES)")
    sub.add_argument("--max-result-bytes", type=int, default=None, metavar="N",
                     help="largest query result served, else 403 (default 67108864; YOKURYU_MAX_RESULT_BYTES)")
    sub.add_argument("--max-query-nesting", type=int, default=None, metavar="N",
                     help="deepest nesting of brackets and braces in a query or update, else 400 "
                          "(default 100; YOKURYU_MAX_QUERY_NESTING)")
    sub.add_argument("--max-query-clauses", type=int, default=None, metavar="N",
                     help="most clauses and operators (BIND, FILTER, UNION, ||, …) in a query or update, else 400 "
                          "(default 1000; YOKURYU_MAX_QUERY_CLAUSES)")
    sub.add_argument("--query-memory", type=int, default=None, metavar="MIB",
                     help="memory one query may use in its query process, else 503 (default 1024; YOKURYU_QUERY_MEMORY)")
    sub.add_argument("--allowed-hosts", type=_host_list, default=None, metavar="NAME,…",
                     help="host names the server answers for, any other Host header gets 400 (default: the loopback "
                          "names when --host is loopback, else any; '.example.org' includes subdomains; "
                          "YOKURYU_ALLOWED_HOSTS)")
    sub.add_argument("--max-write-quads", type=int, default=None, metavar="N",
                     help="most quads one write may send, else 413 (default 100000; YOKURYU_MAX_WRITE_QUADS)")
    sub.add_argument("--max-write-expansion", type=int, default=None, metavar="N",
                     help="most an RDF body may grow when parsed, as bytes of N-Quads per byte sent, else 413 "
                          "(default 64; YOKURYU_MAX_WRITE_EXPANSION)")
    sub.add_argument("--max-rdf-depth", type=int, default=None, metavar="N",
                     help="deepest nesting of brackets or elements in an RDF body, else 400 (default 64; "
                          "YOKURYU_MAX_RDF_DEPTH)")
    sub.add_argument("data_files", nargs="*", metavar="DATA_FILE", help="extra RDF files to build in")
    sub.add_argument("--engine", choices=("fast", "reference"), default="fast",
                     help="fast: shapes and OWL-RL rules compiled to SPARQL on pyoxigraph (falls back to "
                          "reference for what it cannot compile); reference: pyshacl and owlrl for the build and every write (default fast)")
    _remote_arguments(sub, "serve the data of")
    for name in ("build", "validate", "query", "export", "violations", "serve"):
        commands.choices[name].add_argument(
            "--data-dir", metavar="DIR",
            help="use the documents and data in DIR (laid out like the checkout's graph/: DIR/sources/*.txt "
                 "with *.ttl, DIR/data/*.trig) instead of those installed with yokuryu; YOKURYU_DATA_DIR")
    return parser


def _port(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: give 1–65535, or 0 for any free one")
    return port


def _remote_arguments(sub, what: str) -> None:
    group = sub.add_argument_group("remote SPARQL server (see docs/scaling-out.md)")
    group.add_argument("--remote-query", metavar="URL",
                       help=f"{what} a SPARQL 1.1 server: its query URL (YOKURYU_REMOTE_QUERY)")
    group.add_argument("--remote-update", metavar="URL", help="its SPARQL update URL (YOKURYU_REMOTE_UPDATE)")
    group.add_argument("--remote-store", metavar="URL",
                       help="its Graph Store Protocol URL, if it has one: whole graphs are PUT there (YOKURYU_REMOTE_STORE)")
    group.add_argument("--remote-auth", metavar="HEADER",
                       help="Authorization header value sent to it, e.g. 'Basic dXNlcjpwdw==' "
                            "(prefer YOKURYU_REMOTE_AUTH: command lines are visible to other users)")


# --- commands ----------------------------------------------------------------


def cmd_build(args) -> int:
    from yokuryu.graph.build import build
    from yokuryu.graph.pipeline import prepare_store
    from yokuryu.graph.progress import terminal_progress

    if args.remote_query or args.remote_update or args.remote_store:
        return _build_remote(args)
    progress = terminal_progress(quiet=args.quiet)
    if args.store:
        store, result = prepare_store(args.store, args.data_files, rebuild=args.rebuild, engine=args.engine,
                                      progress=progress)
        if result is None:
            print(f"{args.store}: already built ({len(store)} quads); use --rebuild to build again")
            return EXIT_OK
    else:
        result = build(args.data_files, engine=args.engine, progress=progress)
    if not result.ok:
        print(_report(result.report, args.format), file=sys.stderr)
        return EXIT_INVALID
    counts = result.triple_counts()
    print(f"built {sum(counts.values())} quads in {len(counts)} named graphs"
          + (f" into {args.store}" if args.store else " (in memory; use --store PATH to keep them)"))
    for name, count in sorted(counts.items()):
        print(f"  {count:7d}  <{name}>")
    return EXIT_OK


def _build_remote(args) -> int:
    """Build locally (validate, reason), then replace each built graph on the remote server."""
    import os
    import time

    from yokuryu.graph.build import build
    from yokuryu.graph.remote import RemoteEngine, RemoteError
    from yokuryu.graph.progress import terminal_progress
    from yokuryu.ontology import METADATA_GRAPH
    from yokuryu.server.config import ServerConfig

    config = ServerConfig.from_env(remote_query=args.remote_query, remote_update=args.remote_update,
                                   remote_store=args.remote_store, remote_auth=args.remote_auth)
    if args.store:
        print("yokuryu build: --store PATH and --remote-query URL are two places for the build; give one",
              file=sys.stderr)
        return EXIT_USAGE
    if not (config.remote_update or config.remote_store):
        print("yokuryu build: loading a remote server needs --remote-update URL (or --remote-store URL)",
              file=sys.stderr)
        return EXIT_USAGE
    result = build(args.data_files, engine=args.engine, progress=terminal_progress(quiet=args.quiet))
    if not result.ok:
        print(_report(result.report, args.format), file=sys.stderr)
        return EXIT_INVALID
    engine = RemoteEngine(config.remote_query, config.remote_update, config.remote_store,
                          timeout=float(os.environ.get("YOKURYU_REMOTE_TIMEOUT", "300")),
                          authorization=config.remote_auth)
    started = time.monotonic()
    try:
        # The metadata graph (which marks the server as built) goes last, after everything it describes.
        counts = engine.load_dataset(sorted(result.quads, key=lambda q: q.graph_name.value == str(METADATA_GRAPH)))
    except RemoteError as error:
        print(f"yokuryu build: {error}", file=sys.stderr)
        return EXIT_INVALID
    print(f"built {sum(counts.values())} quads in {len(counts)} named graphs and loaded them into "
          f"{config.remote_store or config.remote_update} in {time.monotonic() - started:.1f} s "
          f"({'Graph Store Protocol' if config.remote_store else 'SPARQL Update'}; each graph replaced)")
    for name, count in sorted(counts.items()):
        print(f"  {count:7d}  <{name}>")
    return EXIT_OK


def cmd_validate(args) -> int:
    from yokuryu.graph.build import build

    result = build(args.data_files, reason=False, engine=args.engine)
    print(_report(result.report, args.format), file=sys.stdout if result.ok else sys.stderr)
    return EXIT_OK if result.ok else EXIT_INVALID


def cmd_update(args) -> int:
    from yokuryu.graph.pipeline import open_built_store
    from yokuryu.graph.transaction import RefusedWrite, WriteError, update

    if (args.update is None) == (args.file is None):
        print("yokuryu update: give the update text or -f FILE (exactly one)", file=sys.stderr)
        return EXIT_USAGE
    text = Path(args.file).read_text(encoding="utf-8") if args.file else args.update
    store = open_built_store(args.store)
    try:
        outcome = update(store, text, base_iri=Path(args.store).resolve().as_uri() + "/", engine=args.engine)
    except RefusedWrite as error:
        detail = _report(error.report, args.format) if error.report is not None else error.message
        print(f"yokuryu update: the write was refused and nothing was applied.\n{detail}", file=sys.stderr)
        return EXIT_INVALID
    except WriteError as error:
        print(f"yokuryu update: {error.message}", file=sys.stderr)
        return EXIT_USAGE if error.status < 500 else EXIT_INVALID
    finally:
        store.close()
    print(outcome.describe())
    return EXIT_OK


def cmd_load(args) -> int:
    import pyoxigraph as ox

    from yokuryu.graph.build import InputError
    from yokuryu.graph.formats import rdf_syntax_for_path
    from yokuryu.graph.pipeline import InvalidData, load_files
    from yokuryu.graph.progress import terminal_progress
    from yokuryu.graph.store import open_store

    for name in args.files:  # a missing file or an unknown extension stops it all before the store is opened
        rdf_syntax_for_path(name)
        if not Path(name).is_file():
            raise InputError(f"{name}: no such file; nothing was loaded")
    store = open_store(args.store)
    try:
        if store.is_built:
            try:
                added, removed = load_files(store, args.files, engine=args.engine,
                                            progress=terminal_progress(quiet=args.quiet))
            except InvalidData as error:
                print(f"yokuryu load: refused, nothing was loaded.\n{_report(error.report, args.format)}",
                      file=sys.stderr)
                return EXIT_INVALID
            except InputError as error:
                raise InputError(f"{error}; nothing was loaded") from error
            store.compact()
            print(f"loaded {len(args.files)} file(s) into {args.store}: {added} quads added, {removed} removed "
                  f"(validated and reasoned over; {len(store)} quads in the store)")
        else:
            before = len(store)
            # Into an empty store, pyoxigraph's bulk loader (at 1M quads a third of the CPU of one
            # transaction, without a Python object per quad): every file is parsed once first, so a
            # bad file stops it all, and a failure part-way (a full disk) empties the store again.
            parsed_files = []
            for name in args.files:  # parse everything before touching the store: a bad file stops it all
                syntax = rdf_syntax_for_path(name)
                try:
                    quads = ox.parse(path=str(name), format=syntax.oxigraph)
                    parsed_files.append((name, syntax, list(quads) if before else sum(1 for _ in quads)))
                except OSError as error:
                    raise InputError(f"{name}: cannot read the file ({error.strerror}); nothing was loaded") from error
                except (SyntaxError, ValueError) as error:
                    raise InputError(f"{name}: not valid {syntax.name}: {error}; nothing was loaded") from error
            if before:
                store.oxigraph.extend(q for _, _, parsed in parsed_files for q in parsed)  # one transaction
            else:
                try:
                    for name, syntax, _ in parsed_files:
                        store.oxigraph.bulk_load(path=str(name), format=syntax.oxigraph)
                except (OSError, SyntaxError, ValueError) as error:
                    store.oxigraph.clear()
                    store.oxigraph.flush()
                    raise InputError(f"{name}: loading failed part-way ({error}); nothing was loaded") from error
            store.oxigraph.flush()
            store.compact()
            print(f"loaded {len(args.files)} file(s) into {args.store}: {len(store) - before} quads added "
                  f"({len(store)} in the store; a plain store, so nothing was validated)")
    finally:
        store.close()
    return EXIT_OK


def cmd_backup(args) -> int:
    import os
    import tempfile

    import pyoxigraph as ox

    from yokuryu.graph.store import StoreError, open_store

    source, dest = Path(args.store), Path(args.dest)
    if not source.is_dir():
        raise StoreError(f"--store {source}: no store there")
    if dest.exists():
        raise StoreError(f"{dest} already exists; a backup never overwrites anything, give a new name")
    store = open_store(source)
    try:
        if dest.suffix.lower() in (".nq", ".trig"):
            rdf_format = ox.RdfFormat.N_QUADS if dest.suffix.lower() == ".nq" else ox.RdfFormat.TRIG
            dest.parent.mkdir(parents=True, exist_ok=True)
            # Written beside its final name, then renamed: a half-written backup never looks complete.
            with tempfile.NamedTemporaryFile(dir=dest.parent, prefix=".backup-", delete=False) as tmp:
                store.oxigraph.dump(tmp, format=rdf_format)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp.name, dest)
            print(f"wrote {len(store)} quads to {dest}")
        else:
            store.oxigraph.backup(str(dest))
            print(f"backed up {len(store)} quads to {dest} (serve it with 'yokuryu serve --store {dest}')")
    finally:
        store.close()
    return EXIT_OK


def cmd_query(args) -> int:
    from yokuryu.graph.pipeline import open_built_store
    from yokuryu.graph.query_output import write_results
    from yokuryu.graph.sparql_mistakes import explain_syntax_error
    from yokuryu.ontology import PREFIXES

    text = args.text if hasattr(args, "text") else _query_text(args)
    store = open_built_store(args.store)
    log.info("evaluating the query (%d characters) on %d quads", len(text), len(store))
    try:
        results = store.query(text, union_default_graph=args.union)
    except SyntaxError as error:  # pyoxigraph names where it stopped; say what is wrong and the fix
        raise SyntaxError(explain_syntax_error(text, str(error), "query", PREFIXES)) from None
    write_results(results, args.format, sys.stdout.buffer)
    sys.stdout.flush()
    return EXIT_OK


def cmd_export(args) -> int:
    from yokuryu.graph.formats import rdf_syntax
    from yokuryu.graph.pipeline import open_built_store, resolve_graph_name

    store = open_built_store(args.store)
    syntax = rdf_syntax(args.format)
    graph = None if args.graph == "all" else resolve_graph_name(store, args.graph)
    log.info("writing %s as %s", graph or "every graph", syntax.name)
    data = store.dump(syntax, graph)
    if args.output:
        Path(args.output).write_bytes(data)
        print(f"wrote {len(data)} bytes of {syntax.name} to {args.output}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return EXIT_OK


def cmd_violations(args) -> int:
    from yokuryu.graph.pipeline import InvalidData, open_built_store
    from yokuryu.graph.violations import render

    try:
        store = open_built_store(args.store)
    except InvalidData as error:
        print(f"yokuryu violations: the data does not conform to the shapes, so nothing was reasoned:\n{error}",
              file=sys.stderr)
        return EXIT_INVALID
    print(render(store, args.format))
    return EXIT_OK


def cmd_serve(args) -> int:
    from yokuryu.server.run import serve

    return serve(args)


def _report(report, fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"conforms": report.conforms, "results": [v.as_dict() for v in report.violations]}, indent=2)
    if fmt == "turtle":
        return report.graph.serialize(format="turtle")
    return report.as_text()


if __name__ == "__main__":
    sys.exit(main())


def _host_list(raw: str) -> tuple[str, ...]:
    """``--allowed-hosts a.example,localhost``: the names, or a usage error."""
    from yokuryu.server.config import host_list
    try:
        return host_list(raw)
    except ValueError:
        raise argparse.ArgumentTypeError("give host names separated by commas, e.g. data.example.org,localhost") from None
