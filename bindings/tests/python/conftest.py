"""Fixtures of the Python boundary tests: the generated module (loaded against the built
library by bindings/generate.sh), stores in temp dirs, and a real gridline-server process."""

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

BINDINGS = Path(__file__).resolve().parents[2]
ROOT = BINDINGS.parent
sys.path.insert(0, str(BINDINGS / "generated" / "python"))

import gridline_ffi as g  # noqa: E402  (the path above must come first)

# The demo city's logins (sync-server/src/demo.rs); the data dir is a fresh temp dir.
GRID_WORKER = ("gridworker", "Grid#2024")
SUPERVISOR = ("supervisor", "Super#2024")
DEMO_HOUSEHOLDS = "10"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
LISTENING = re.compile(r"serving.*addr=(\S+)")


def id_number(body17: str) -> str:
    """A resident ID number with its ISO 7064 MOD 11-2 check character."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(d) * w for d, w in zip(body17, weights))
    return body17 + "10X98765432"[total % 11]


@pytest.fixture
def store(tmp_path):
    return g.GridlineStore.open(str(tmp_path / "device.sqlite"))


class Server:
    """A `gridline-server demo` process on an ephemeral port with its own data dir."""

    def __init__(self, data_dir: Path):
        binary = os.environ.get("GRIDLINE_SERVER_BIN", str(ROOT / "target" / "debug" / "gridline-server"))
        assert Path(binary).is_file(), f"{binary} missing: build it with `cargo build -p gridline-server`"
        self.binary, self.data_dir = binary, data_dir
        env = dict(os.environ, NO_COLOR="1", RUST_LOG="info")
        self.proc = subprocess.Popen(
            [binary, "demo", "--data-dir", str(data_dir), "--listen", "127.0.0.1:0", "--households", DEMO_HOUSEHOLDS],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.output: list[str] = []
        found = threading.Event()
        self.url = None

        def read():
            for line in self.proc.stdout:
                self.output.append(line)
                m = LISTENING.search(ANSI.sub("", line))
                if m and self.url is None:
                    self.url = "http://" + m.group(1)
                    found.set()
            found.set()

        threading.Thread(target=read, daemon=True).start()
        # Seeding the demo city in a debug build takes a while on a busy machine.
        found.wait(timeout=300)
        if self.url is None:
            self.stop()
            raise RuntimeError("gridline-server did not start:\n" + "".join(self.output))

    def cli(self, *args: str) -> str:
        """Runs a `gridline-server` admin command on this server's data dir."""
        done = subprocess.run([self.binary, *args, "--data-dir", str(self.data_dir)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("server-data"))
    yield s
    s.stop()
