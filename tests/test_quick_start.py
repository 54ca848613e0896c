"""The README's Quick start, word for word, on a fresh copy of the checkout: the first command
installs and serves, the second runs tests, and the second never breaks the first."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent


def quick_start_commands() -> list[str]:
    """The shell commands of the README's Quick start section, in order."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def test_readme_quick_start_has_two_commands_serve_then_test():
    commands = quick_start_commands()
    assert len(commands) == 2, commands
    assert commands[0].endswith("yokuryu serve")
    assert commands[1] == "bash tests/run.sh"


def fresh_copy(target: Path) -> Path:
    """The checkout's files (tracked and untracked, minus ignored ones) without any virtualenv."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def clean_environment() -> dict[str, str]:
    """The environment of a new shell: no virtualenv active, no test venv on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    ours = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != ours)
    return env


class Shell:
    """A ``bash -c`` command in its own process group, its output collected by a thread."""

    def __init__(self, command: str, cwd: Path, env: dict[str, str]):
        self.process = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=env, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True).start()

    def wait_for(self, pattern: str, hang_guard: float) -> re.Match:
        deadline = time.monotonic() + hang_guard
        while time.monotonic() < deadline:
            for line in list(self.lines):
                match = re.search(pattern, line)
                if match:
                    return match
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"never printed {pattern!r}:\n" + "".join(self.lines[-60:]))

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.mark.slow
def test_quick_start_commands_in_order_keep_the_server_serving(tmp_path):
    serve_command, test_command = quick_start_commands()
    checkout = fresh_copy(tmp_path / "yokuryu")
    env = clean_environment()
    # The README's first command as written, on a free port instead of 8000 (a shared machine).
    server = Shell(serve_command + " --port 0", checkout, env)
    try:
        url = server.wait_for(r"Serving on (http://\S+?)/\s", hang_guard=1200).group(1)
        assert requests.get(f"{url}/health", timeout=30).status_code == 200

        # The second command, with the server still running; a few quick tests instead of all.
        tests = subprocess.run(["bash", "-c", test_command + " tests/test_cli.py -q -k help"], cwd=checkout,
                               env=env, capture_output=True, text=True, timeout=1200)
        assert tests.returncode == 0, tests.stdout + tests.stderr
        assert "passed" in tests.stdout
        assert "Package would be ignored" not in tests.stdout + tests.stderr
        # A second run installs nothing and prints nothing before pytest.
        again = subprocess.run(["bash", "-c", test_command + " tests/test_cli.py -q -k help"], cwd=checkout,
                               env=env, capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stdout + again.stderr
        assert again.stderr == "" and "pip" not in again.stdout

        # The server from the first command still serves its pages, their CSS, and says it is healthy.
        home = requests.get(f"{url}/", timeout=60)
        assert home.status_code == 200, home.text[:2000]
        css = re.search(r'href="([^"]+\.css)"', home.text).group(1)
        style = requests.get(requests.compat.urljoin(url + "/", css), timeout=30)
        assert style.status_code == 200 and style.headers["Content-Type"].startswith("text/css")
        assert requests.get(f"{url}/health", timeout=30).json()["status"] == "ok"
    finally:
        server.stop()
