"""Where a server's time goes: py-spy attached to its process tree during a run, and
its raw samples summed up (the thread split, self time, pointkeeper's functions)."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from .servers import Server

__all__ = ["start_profile", "stop_profile", "summarize_profile"]


def _py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start_profile(server: Server, output: Path) -> subprocess.Popen[bytes] | None:
    py_spy = _py_spy()
    if py_spy is None:
        print("--profile: install py-spy (.venv/bin/pip install py-spy)", file=sys.stderr)
        return None
    command = [py_spy, "record", "-p", str(server.pid), "-f", "raw", "-o", str(output)]
    command += ["--rate", "200", "--nonblocking", "--threads"]
    if server.processes > 1:
        command.append("--subprocesses")  # the workers, not only uvicorn's supervisor
    profiler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # py-spy needs a moment to attach
    return profiler


def stop_profile(profiler: subprocess.Popen[bytes]) -> None:
    profiler.send_signal(signal.SIGINT)  # py-spy writes the profile and exits
    try:
        profiler.wait(timeout=30)
    except subprocess.TimeoutExpired:
        profiler.kill()
        profiler.wait()


def summarize_profile(output: Path, top: int = 25) -> list[str]:
    """The thread split, self time and inclusive time of pointkeeper's functions."""
    if not output.exists() or not output.stat().st_size:
        return ["py-spy wrote nothing"]
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in output.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        # With --subprocesses each stack starts with the process chain, the sampled
        # process last: 'process PID:"command";' (a command may hold a ';').
        chain = re.match(r'(?:process \d+:"[^"]*";)+', stack)
        process = ""
        if chain is not None:
            process = "process " + re.findall(r"process (\d+):", chain.group(0))[-1] + " "
            stack = stack[chain.end() :]
        frames = stack.split(";")
        n = int(samples)
        total += n
        threads[process + frames[0].split(" (")[0] + " " + frames[0].rpartition(": ")[2]] += n
        own[frames[-1]] += n
        for frame in set(frames[1:]):
            if "pointkeeper/" in frame:
                inclusive[frame] += n
    if not total:
        return ["py-spy: no samples"]
    lines = [f"{n / total:6.1%}  {name}" for name, n in threads.most_common(6)]
    lines.append("self time:")
    lines += [f"{n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    lines.append("inclusive, pointkeeper functions:")
    lines += [f"{n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(top)]
    return lines
