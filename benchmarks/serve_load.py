"""Load test of ``fromzero serve``: many concurrent clients against one server on loopback.

Starts ``fromzero serve RUN`` as a subprocess (a fresh tiny MNIST run if none is given), then
CLIENTS concurrent clients each send REQUESTS requests (POST /api/predict with examples/digit-7.png,
or /api/classify for a text classifier run), bounded by --seconds. Prints p50/p99 latency,
throughput, errors by status, and the server's resident memory (RSS) after the first and the last
thousand requests: with one model thread and a bounded queue it should stay flat.

    python benchmarks/serve_load.py                      # trains a tiny CNN run first (~10 s)
    python benchmarks/serve_load.py runs/mnist-cnn --clients 32 --requests 50
"""
from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def load(url: str, pid: int, clients: int, requests: int, seconds: float, digit: bytes) -> dict:
    latencies, statuses, rss, done = [], {}, {}, [0]
    total = clients * requests
    deadline = time.perf_counter() + seconds

    async def client(http: httpx.AsyncClient):
        for _ in range(requests):
            if time.perf_counter() > deadline:
                return
            t = time.perf_counter()
            try:
                r = await http.post(url, content=digit, headers={"Content-Type": "image/png"})
                status = r.status_code
            except httpx.HTTPError as e:
                status = type(e).__name__
            latencies.append(time.perf_counter() - t)
            statuses[status] = statuses.get(status, 0) + 1
            done[0] += 1
            if done[0] == min(1000, total):
                rss["first 1000"] = rss_mb(pid)
            if done[0] == total - 1000:
                rss["before the last 1000"] = rss_mb(pid)

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        wall = time.perf_counter() - t0
    rss["end"] = rss_mb(pid)
    return {"latencies": sorted(latencies), "statuses": statuses, "rss": rss, "wall": wall}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", nargs="?", help="an image-classifier run (default: train a tiny one)")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=50, help="per client")
    ap.add_argument("--seconds", type=float, default=300, help="stop sending after this long")
    ap.add_argument("--queue", type=int, default=64, help="the server's --queue")
    args = ap.parse_args()
    from fromzero.device import describe_machine, machine

    print(f"machine: {describe_machine(machine())}")
    tmp = tempfile.TemporaryDirectory()
    run = args.run
    if run is None:
        from fromzero.recipes.configs import MnistConfig
        from fromzero.recipes.mnist import train_mnist

        run = str(Path(tmp.name) / "mnist")
        train_mnist(run, MnistConfig(epochs=1, limit=256, device="cpu"), verbose=0)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "fromzero", "serve", run, "--port", str(port),
                               "--queue", str(args.queue)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/api/info", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        print(f"server: fromzero serve {run} --queue {args.queue} (pid {server.pid}, RSS {rss_mb(server.pid):.0f} MB "
              f"after loading)")
        r = asyncio.run(load(base + "/api/predict", server.pid, args.clients, args.requests, args.seconds,
                             (ROOT / "examples/digit-7.png").read_bytes()))
    finally:
        server.terminate()
        server.wait(timeout=30)
    lat, n = r["latencies"], len(r["latencies"])
    ok = r["statuses"].get(200, 0)
    print(f"{args.clients} clients x {args.requests} requests: {n} sent in {r['wall']:.1f} s, "
          f"{ok / r['wall']:.0f} answers/s")
    print(f"latency p50 {lat[n // 2] * 1000:.0f} ms, p99 {lat[min(n - 1, int(n * 0.99))] * 1000:.0f} ms")
    print("status: " + ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items(), key=str)) +
          f"; errors (not 200): {n - ok}")
    print("server RSS: " + ", ".join(f"{k} {v:.0f} MB" for k, v in r["rss"].items()))


if __name__ == "__main__":
    main()
