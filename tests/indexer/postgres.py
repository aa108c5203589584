"""A throwaway PostgreSQL cluster in a temporary directory (Debian's server binaries, Unix socket only)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path


def server_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found: `make test` installs Debian's postgresql package")
    return Path(found[-1]).parent


class ThrowawayCluster:
    """initdb + pg_ctl under a temp dir; PostgreSQL refuses to run as root, so root runs it as `postgres`."""

    def __init__(self) -> None:
        self.bin = server_bin()
        self.directory = Path(tempfile.mkdtemp(prefix="octravpn-pg-"))
        self.data = self.directory / "data"
        self.port = 5432
        self._user = "postgres" if os.geteuid() == 0 else None
        self._databases = 0

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._user:
            command = ["runuser", "-u", self._user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> ThrowawayCluster:
        if self._user:
            entry = pwd.getpwnam(self._user)
            os.chown(self.directory, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "--auth=trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.directory / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-k {self.directory} -p {self.port} -c listen_addresses='' -c fsync=off",
            "start",
        )
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.directory}&port={self.port}"

    def new_database(self) -> str:
        """A fresh, empty database's URL."""
        import psycopg

        self._databases += 1
        name = f"octravpn_{os.getpid()}_{self._databases}"
        with psycopg.connect(
            f"host={self.directory} port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> ThrowawayCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
