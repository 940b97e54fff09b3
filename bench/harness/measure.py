"""What a running server costs, read from /proc (Linux only): peak memory and CPU time
of its whole process tree, which of its processes take connections, and how far a file
(SQLite's write-ahead log) grows while a block runs."""

from __future__ import annotations

import contextlib
import os
import re
import threading
from pathlib import Path

__all__ = ["PeakFileSize", "cpu_seconds", "peak_rss_mb", "serving_processes", "sqlite_wal_path"]


def _process_tree(pid: int) -> list[int]:
    found = [pid]
    for tasks in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = tasks.read_text().split()
        except OSError:
            continue
        for child in children:
            found.extend(_process_tree(int(child)))
    return found


def peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set) of pid plus its descendants, in MiB.

    With `--processes N` that is uvicorn's supervisor, its N workers and multiprocessing's
    helpers. Summing the tree over-counts shared pages, but it is what N processes cost;
    with a single process it is exactly that process's peak. PostgreSQL's own backends
    are not in it.
    """
    total_kb = 0
    for each in _process_tree(pid):
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue  # exited meanwhile
        match = re.search(r"^VmHWM:\s+(\d+)\s+kB", status, re.MULTILINE)
        if match:
            total_kb += int(match.group(1))
    return total_kb / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time pid and its descendants have used so far, in seconds."""
    ticks = 0
    for each in _process_tree(pid):
        try:
            stat = Path(f"/proc/{each}/stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command name; utime and stime are 14 and 15.
        fields = stat.rpartition(")")[2].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on `port` (any address)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local_address is HEX_IP:HEX_PORT, state 0A is LISTEN.
            if fields[3] == "0A" and int(fields[1].rpartition(":")[2], 16) == port:
                found.add(fields[9])
    return found


def _watches_socket(pid: int, targets: set[str]) -> bool:
    """Whether one of pid's epoll instances watches one of its descriptors of `targets`."""
    listening: set[str] = set()
    polls: list[str] = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link in targets:
            listening.add(fd.name)
        elif link == "anon_inode:[eventpoll]":
            polls.append(fd.name)
    watched = set()
    for fd_name in polls:
        info = Path(f"/proc/{pid}/fdinfo/{fd_name}").read_text()
        watched.update(re.findall(r"^tfd:\s+(\d+)", info, re.MULTILINE))
    return bool(listening & watched)


def serving_processes(pid: int, port: int) -> list[int]:
    """The processes of pid's tree whose event loop watches the socket listening on
    `port`: uvicorn starts watching it only after the application's start-up, so these
    are the processes that take connections now."""
    targets = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    serving = []
    for each in _process_tree(pid):
        try:
            if _watches_socket(each, targets):
                serving.append(each)
        except OSError:
            continue  # exited meanwhile
    return serving


def sqlite_wal_path(database_url: str) -> Path:
    """Where SQLite keeps the write-ahead log of the database at ``database_url``."""
    return Path(database_url.removeprefix("sqlite:///") + "-wal")


class PeakFileSize:
    """The largest size a file reaches while the block runs (polled in a
    thread; 0 when the file never exists): how far SQLite's WAL grows."""

    def __init__(self, path: Path, interval_s: float = 0.01) -> None:
        self._path = path
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self.peak_bytes = 0

    def _poll(self) -> None:
        while not self._stop.wait(self._interval_s):
            with contextlib.suppress(OSError):
                self.peak_bytes = max(self.peak_bytes, self._path.stat().st_size)

    def __enter__(self) -> PeakFileSize:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 1024 / 1024
