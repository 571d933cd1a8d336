"""A real, throw-away PostgreSQL server for tests: ``initdb`` into a temporary folder,
``postgres`` on a free loopback port, stopped (by its pid) when the test is done.

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user
that Debian's package creates (scripts/bootstrap.sh installs the package when missing).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def _pg_bin(name: str) -> str:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    found = candidates[0] if candidates else shutil.which(name)
    if not found:
        raise FileNotFoundError(
            f"PostgreSQL's {name} not found: run scripts/bootstrap.sh --postgres "
            "(installs Debian's postgresql package)"
        )
    return found


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_postgres(database: str = "coursehub") -> Iterator[str]:
    """Yield a SQLAlchemy URL (``postgresql+psycopg2://...``) of a fresh database.

    The data folder is a new one under /tmp (pytest's tmp_path is closed to other users).
    """
    base_dir = Path(tempfile.mkdtemp(prefix="coursehub-pg-"))
    data_dir = base_dir / "pgdata"
    data_dir.mkdir(parents=True)
    if os.geteuid() == 0:
        shutil.chown(base_dir, "postgres")
        shutil.chown(data_dir, "postgres")
    subprocess.run(
        _as_server_user(
            [_pg_bin("initdb"), "-D", str(data_dir), "-U", "coursehub", "--auth=trust", "--no-sync"]
        ),
        check=True,
        capture_output=True,
    )
    port = _free_port()
    log = open(base_dir / "postgres.log", "wb")  # noqa: SIM115 - lives as long as the server
    server = subprocess.Popen(
        _as_server_user(
            [
                _pg_bin("postgres"),
                "-D",
                str(data_dir),
                "-p",
                str(port),
                "-h",
                "127.0.0.1",
                "-k",
                str(data_dir),
                "-c",
                "fsync=off",
            ]
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while (
            subprocess.run(
                [_pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True
            ).returncode
            != 0
        ):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start; see {base_dir / 'postgres.log'}")
            time.sleep(0.2)
        subprocess.run(
            [_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "coursehub", database],
            check=True,
            capture_output=True,
        )
        yield f"postgresql+psycopg2://coursehub@127.0.0.1:{port}/{database}"
    finally:
        # runuser forwards SIGTERM to postgres: a "smart" shutdown of our own server only.
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
        shutil.rmtree(base_dir, ignore_errors=True)
