"""Memory of web and worker while eight 39.7-megapixel PNG bombs arrive at once.

Each bomb is a 6300×6300 RGBA PNG of one colour (about 150 KB, under MAX_IMAGE_PIXELS),
different in one pixel so no two share a result. The script starts gunicorn and one model
worker (EfficientNet-Lite0, works offline), measures their resident memory while idle,
sends the eight uploads in parallel (each waits up to PREDICT_WAIT_SECONDS for its answer),
keeps sampling until every answer is in, and prints the figures:

    python -m benchmarks.bomb_memory --database-url postgres://postgres@127.0.0.1:5432/bombs

One web process (its 64 threads), as in the measured benchmarks; RSS is sampled every 0.1 s.
"""

from __future__ import annotations

import argparse
import io
import json
import threading
import time

import psutil

from benchmarks.load import WORK_DIR
from benchmarks.load.photos import multipart_body
from benchmarks.load.sampling import ProcessSampler
from benchmarks.load.system import bench_environment, start_stack
from benchmarks.load.users import log_in

SIDE = 6300
BOMBS = 8


def png_bomb(index: int) -> bytes:
    from PIL import Image

    image = Image.new("RGBA", (SIDE, SIDE), (40, 120, 200, 255))
    image.putpixel((index, 0), (index, 0, 0, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=9)
    return buffer.getvalue()


def upload(url: str, token: str, content: bytes, answers: list, index: int) -> None:
    import http.client
    from urllib.parse import urlparse

    parsed = urlparse(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=300)
    body, content_type = multipart_body("image", f"bomb-{index}.png", content)
    started = time.monotonic()
    connection.request(
        "POST",
        "/api/predictions/",
        body=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
    )
    response = connection.getresponse()
    payload = json.loads(response.read() or b"{}")
    connection.close()
    answers[index] = (response.status, payload.get("status"), time.monotonic() - started)


def unused_port_below_the_ephemeral_range() -> int:
    """A port the kernel never hands out as a source port (a busy machine's outgoing
    connections took the ephemeral port `free_port` had chosen before gunicorn bound it)."""
    import random
    import socket

    for _ in range(50):
        port = random.randint(20000, 30000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 30000")


def rss_mb(sampler: ProcessSampler, name: str) -> float:
    return max(sampler.groups[name].rss_samples[-5:], default=0) / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    options = parser.parse_args(argv)
    env = bench_environment(options.database_url, "efficientnet_lite0", "bomb-media")
    bombs = [png_bomb(index) for index in range(BOMBS)]
    print(f"{BOMBS} PNGs of {SIDE}×{SIDE} RGBA ({SIDE * SIDE / 1e6:.1f} Mpx), "
          f"{min(map(len, bombs)) / 1024:.0f}–{max(map(len, bombs)) / 1024:.0f} KB")  # fmt: skip
    log_dir = WORK_DIR / "bomb-logs"
    stack = start_stack(
        env,
        model="efficientnet_lite0",
        batch_size=8,
        max_wait_ms=50,
        log_dir=log_dir,
        web_port=unused_port_below_the_ephemeral_range(),
    )
    try:
        # A port can be taken by another process before gunicorn binds it: then the
        # readiness check reached someone else's server. Measure only our own.
        time.sleep(1)
        if stack.web.poll() is not None or not psutil.Process(stack.web.pid).children():
            raise SystemExit("gunicorn did not start (its port was taken); run again")
        token = log_in(stack.url, 0)
        sampler = ProcessSampler(interval=0.1)
        sampler.add("web", [stack.web.pid], include_children=True)
        sampler.add("worker", [worker.pid for worker in stack.workers])
        sampler.start()
        time.sleep(2)
        idle = {name: rss_mb(sampler, name) for name in ("web", "worker")}
        answers: list = [None] * BOMBS
        threads = [
            threading.Thread(target=upload, args=(stack.url, token, bombs[i], answers, i))
            for i in range(BOMBS)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        elapsed = time.monotonic() - started
        time.sleep(2)
        summary = sampler.stop()
    finally:
        stack.stop()
    print(f"answers: {answers}")
    print(f"all answered in {elapsed:.1f} s")
    for name in ("web", "worker"):
        peak = summary["groups"][name]["rss_peak_mb_total"]
        print(f"{name:6s} RSS idle {idle[name]:7.0f} MB  peak {peak:7.0f} MB  "
              f"(+{peak - idle[name]:.0f} MB)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
