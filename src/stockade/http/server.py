"""Running the ASGI app: in the foreground (`stockade serve`) or on a thread (demo, benchmarks)."""

from __future__ import annotations

import gc
import socket
import threading
import time
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI


@dataclass
class RunningServer:
    server: uvicorn.Server
    thread: threading.Thread
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_in_thread(app: FastAPI, host: str, port: int, timeout: float = 15.0) -> RunningServer:
    """Serve `app` on a background thread; `port=0` picks a free port."""
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="off", proxy_headers=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="stockade-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the HTTP server did not start on {host}:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return RunningServer(server, thread, host, bound)


def serve(app: FastAPI, host: str, port: int) -> None:
    # Everything built at start-up (compiled rules and policies, services) lives as long as the
    # process: move it out of the collector's sight, so full collections stay short.
    gc.collect()
    gc.freeze()
    # per-request access lines would cost more than a cached decision; the sign-in log and
    # /metrics say what was decided
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False, access_log=False)


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now (for demos and tests that need the URL before serving)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
