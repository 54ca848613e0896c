"""Shared fixtures: the real CLI, a real app on the built graph, and a real server process."""
from __future__ import annotations

import atexit
import inspect
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent

# Every test session starts with an empty build cache of its own, so the first command that
# needs the graph really builds it (as on a fresh machine) and no user cache is touched.
os.environ["YOKURYU_CACHE_DIR"] = tempfile.mkdtemp(prefix="yokuryu-test-cache-")
atexit.register(shutil.rmtree, os.environ["YOKURYU_CACHE_DIR"], True)
YOKURYU = shutil.which("yokuryu", path=str(Path(sys.executable).parent)) or shutil.which("yokuryu")
# Pages wait this long for their figures (server/figures.py) unless a test says otherwise: on a
# loaded machine a view must not show "being worked out" where a test reads the counts.
os.environ.setdefault("YOKURYU_FIGURES_WAIT", "60")


def run_cli(*args, cwd=None, input=None, timeout=300) -> subprocess.CompletedProcess:
    """Run the installed ``yokuryu`` command as a user would."""
    assert YOKURYU, "the yokuryu console script is not installed (pip install -e '.[test]')"
    return subprocess.run([YOKURYU, *map(str, args)], cwd=cwd, input=input, capture_output=True,
                          timeout=timeout)


class ServerProcess:
    """``yokuryu serve`` in a child process on a free port; stopped when the test ends."""

    def __init__(self, *args, env=None, cwd=None):
        env = {**os.environ, **(env or {})}
        self.process = subprocess.Popen([YOKURYU, "serve", "--port", "0", *map(str, args)],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                        cwd=cwd, text=True)
        self.output: list[str] = []
        try:
            self.url = self._wait_for_url()
        except BaseException:
            self.stop()  # never leave a half-started server behind
            raise

    def _wait_for_url(self, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                if self.process.poll() is not None:
                    raise RuntimeError("yokuryu serve exited early:\n" + "".join(self.output))
                continue
            self.output.append(line)
            match = re.search(r"Serving on (http://\S+?)/\s", line)
            if match:
                return match.group(1)
        raise RuntimeError("yokuryu serve did not start in time:\n" + "".join(self.output))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


@pytest.fixture
def start_server():
    servers = []

    def start(*args, **kwargs) -> ServerProcess:
        server = ServerProcess(*args, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def server():
    """One server on the bundled graph, shared by the read-only HTTP tests."""
    process = ServerProcess()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def built():
    """The bundled build, in memory (Python API)."""
    from yokuryu.graph import build
    result = build()
    assert result.ok, result.report.as_text()
    return result


@pytest.fixture(scope="session")
def store(built):
    from yokuryu.graph import open_store
    store = open_store(None)
    store.load_build(built)
    return store


@pytest.fixture
def app(store):
    from yokuryu.server import create_app
    from yokuryu.server.config import ServerConfig
    app = create_app(ServerConfig(), store)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def select_values(response: requests.Response, var: str) -> list[str]:
    return [b[var]["value"] for b in response.json()["results"]["bindings"] if var in b]


@pytest.fixture(scope="session")
def plain_server():
    """``yokuryu serve --empty --allow-anonymous-updates``: the plain SPARQL server the W3C suites run on."""
    process = ServerProcess("--empty", "--allow-anonymous-updates")
    yield process
    process.stop()


# A test that starts a process (a `yokuryu serve`, the console script, any subprocess), itself or
# through a fixture, takes seconds: it is marked slow here, so the fast loop
# (-m "not slow and not browser") stays in-process without anyone marking such tests by hand.
PROCESS_FIXTURES = {"server", "start_server", "plain_server"}
PROCESS_CALLS = ("ServerProcess(", "run_cli(", "start_server(", "subprocess.")


def _starts_processes(function) -> bool:
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    return any(call in source for call in PROCESS_CALLS)


def pytest_collection_modifyitems(config, items):
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        fixtures = [d for defs in (info.name2fixturedefs.values() if info else ()) for d in defs]
        if (PROCESS_FIXTURES & set(getattr(item, "fixturenames", ()))
                or _starts_processes(getattr(item, "function", None))
                or any(_starts_processes(d.func) for d in fixtures if d.baseid != "" or d.argname in PROCESS_FIXTURES)):
            item.add_marker(pytest.mark.slow)
