"""Load from wrk: a POST of one body (JSON, or any bytes with their headers), and the figures parsed
from its ``--latency`` report."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_LUA = """\
local file = assert(io.open("{body}", "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
{headers}
"""
JSON_HEADERS = {"Content-Type": "application/json"}
_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass(frozen=True)
class LoadResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    """connect + read + write + timeout errors as wrk counts them."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ensure_wrk() -> str:
    """The wrk binary; installed from Debian's package when missing (the benchmark is run as root)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: apt-get install wrk", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed: run `apt-get install wrk`")
    return found


def write_script(body_path: Path, headers: dict[str, str] | None = None) -> Path:
    """A wrk script that POSTs the file's bytes with ``headers`` (default: JSON's content type)."""
    script = body_path.with_suffix(".lua")
    lines = "\n".join(f'wrk.headers["{name}"] = "{value}"' for name, value in (headers or JSON_HEADERS).items())
    script.write_text(_LUA.format(body=body_path, headers=lines))
    return script


def run_wrk(url: str, script: Path, *, seconds: float, connections: int = 16, threads: int = 1) -> LoadResult:
    command = [
        ensure_wrk(),
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={max(1, round(seconds))}s",
        "--timeout=10s",
        "--latency",
        f"--script={script}",
        url,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr or completed.stdout}")
    return parse(completed.stdout)


def parse(report: str) -> LoadResult:
    """Figures from wrk's text report (``--latency``)."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", report)
    total = re.search(r"(\d+) requests in", report)
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s|m)\s*$", report, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", report, re.MULTILINE)
    if not (rps and total and p50 and p99):
        raise RuntimeError(f"cannot parse wrk's report:\n{report}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", report)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", report)
    return LoadResult(
        requests_per_second=float(rps.group(1)),
        p50_ms=float(p50.group(1)) * _UNITS_MS[p50.group(2)],
        p99_ms=float(p99.group(1)) * _UNITS_MS[p99.group(2)],
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )
