"""HTTP service throughput: requests/s of a one-page scan at 1, 4 and 16 clients, and RSS.

Starts ``idreader.server`` in a child process on 127.0.0.1 (a free port), warms it up,
then for each client count sends a bounded number of ``POST /v1/scan`` requests of the
same one-page PDF and reports requests/s, median and 95th-percentile latency, refusals
(503), and the server's resident memory (peak ``VmHWM`` from /proc). The baseline,
measured in the same run, is ``Reader.read`` of the same PDF in this process, one after
another: the ratio shows what HTTP, upload and the thread pool cost or gain.

Run it once per pool size to compare (the service shares one Reader between threads):

    python benchmarks/bench_server.py --scan-threads 1
    python benchmarks/bench_server.py --scan-threads 2

Everything stays on loopback; each level is capped by ``--requests`` and ``--seconds``.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from idreader import Reader, ReaderConfig
from idreader.synth import DigitBank, Distortion, Layout, make_page, write_pdf

ROOT = Path(__file__).resolve().parents[1]
SLICE = ROOT / "tests" / "data" / "mnist_test_2000.npz"
SERVER = """
import sys, uvicorn
from idreader.config import ReaderConfig
from idreader.server import ServiceLimits, create_app
port, threads = int(sys.argv[1]), int(sys.argv[2])
limits = ServiceLimits(max_concurrent_scans=threads, max_queued_jobs=64)
uvicorn.run(create_app(ReaderConfig(id_length=8), limits=limits),
            host="127.0.0.1", port=port, log_level="warning")
"""


def make_pdf(path: Path, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    with np.load(SLICE) as data:
        bank = DigitBank(data["images"], data["labels"], rng=rng)
    sid = "".join(str(d) for d in rng.integers(0, 10, 8))
    page = make_page(sid, bank, layout=Layout(), distortion=Distortion(skew=2.0), rng=rng)
    write_pdf([page.image], path, dpi=200)
    return sid


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def run_level(url: str, pdf: bytes, clients: int, requests: int, seconds: float) -> dict:
    """Send up to ``requests`` scans from ``clients`` threads, stopping after ``seconds``."""
    stop = time.monotonic() + seconds
    files = [("file", ("scan.pdf", pdf, "application/pdf"))]

    def client(n: int) -> list[tuple[int, float]]:
        out = []
        with httpx.Client(timeout=300) as http:
            for _ in range(n):
                if time.monotonic() > stop:
                    break
                start = time.perf_counter()
                status = http.post(url + "/v1/scan", files=files).status_code
                out.append((status, time.perf_counter() - start))
        return out

    per_client = max(1, requests // clients)
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        done = [r for rs in pool.map(client, [per_client] * clients) for r in rs]
    wall = time.perf_counter() - start
    ok = sorted(t for status, t in done if status == 200)
    return {
        "clients": clients,
        "requests": len(done),
        "ok": len(ok),
        "refused": sum(status == 503 for status, _ in done),
        "rps": len(ok) / wall,
        "p50": statistics.median(ok) if ok else float("nan"),
        "p95": ok[min(len(ok) - 1, int(0.95 * len(ok)))] if ok else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scan-threads", type=int, default=2, help="max_concurrent_scans")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--requests", type=int, default=32, help="per client level, at most")
    parser.add_argument("--seconds", type=float, default=60.0, help="per level, at most")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scan.pdf"
        truth = make_pdf(path)
        pdf = path.read_bytes()

        reader = Reader(ReaderConfig(id_length=8))
        reader.read(path)
        n_base = 8
        start = time.perf_counter()
        for _ in range(n_base):
            base_id = reader.read(path).results[0].student_id
        baseline = n_base / (time.perf_counter() - start)

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(port), str(args.scan_threads)], env=env
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(url + "/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the server did not start")
                time.sleep(0.2)
            idle = memory_kib(proc.pid)
            warm = httpx.post(
                url + "/v1/scan", files=[("file", ("scan.pdf", pdf, "application/pdf"))]
            ).json()
            levels = [
                run_level(url, pdf, c, max(args.requests, c), args.seconds) for c in args.clients
            ]
            peak = memory_kib(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=60)

    lines = [
        f"### One-page scan over HTTP, scan threads = {args.scan_threads}, "
        f"{os.cpu_count()} CPUs (shared)",
        "",
        f"In-process baseline (`Reader.read`, sequential): {baseline:.2f} scans/s. "
        f"IDs read: server {warm['results'][0]['student_id']}, in-process {base_id}, "
        f"truth {truth}.",
        "",
        "| clients | requests | 200 | 503 | requests/s | vs baseline | p50 s | p95 s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['clients']} | {r['requests']} | {r['ok']} | {r['refused']} | {r['rps']:.2f} | "
        f"{r['rps'] / baseline:.2f}x | {r['p50']:.2f} | {r['p95']:.2f} |"
        for r in levels
    ]
    lines += [
        "",
        f"Server memory: {idle['VmRSS'] / 1024:.0f} MiB RSS after start-up, "
        f"peak {peak['VmHWM'] / 1024:.0f} MiB (VmHWM) over the run.",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
