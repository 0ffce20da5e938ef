"""Real processes for end-to-end tests and benchmarks: `stockade serve`, nginx, a toy app."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from stockade.access.proxies import ProxySite, nginx
from stockade.http.server import free_port

STOCKADE = [sys.executable, "-m", "stockade.cli"]


def wait_http(url: str, proc: subprocess.Popen[Any] | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def wait_tcp(host: str, port: int, proc: subprocess.Popen[Any], timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((host, port)) == 0:
                return
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {host}:{port} opened")
        time.sleep(0.05)
    raise RuntimeError(f"{host}:{port} did not open within {timeout} s")


class StockadeProcess:
    """`stockade serve` in its own process, with its own data directory."""

    def __init__(self, data_dir: Path, database_url: str = "", **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")}
        self.env.update(
            STOCKADE_DATA_DIR=str(data_dir),
            STOCKADE_PORT=str(self.port),
            STOCKADE_PUBLIC_URL=self.url,
            **env,
        )
        if database_url:
            self.env["STOCKADE_DATABASE_URL"] = database_url
        self.proc: subprocess.Popen[str] | None = None

    def create_tenant(self, name: str) -> str:
        """A tenant and its admin token, through the operator CLI."""
        done = subprocess.run(
            [*STOCKADE, "tenant", "create", name], env=self.env, capture_output=True, text=True
        )
        match = re.search(r"token\s+(sat_\S+)", done.stdout)
        if done.returncode != 0 or not match:
            raise RuntimeError(f"tenant create failed: {done.stdout}{done.stderr}")
        return match.group(1)

    def start(self) -> StockadeProcess:
        self.proc = subprocess.Popen(
            [*STOCKADE, "serve"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        wait_http(f"{self.url}/healthz", self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=15)

    def __enter__(self) -> StockadeProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


class ToyApp:
    """The app being protected: answers 200 with what the proxy told it about the user."""

    def __init__(self) -> None:
        seen: list[dict[str, str]] = []
        self.seen = seen

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(dict(self.headers))
                body = f"payroll for {self.headers.get('X-Stockade-User', '?')}\n".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()


def nginx_binary() -> str | None:
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )


class NginxProcess:
    """nginx on loopback, configured by `stockade.access.proxies.nginx`."""

    def __init__(self, workdir: Path, site: ProxySite) -> None:
        self.workdir = workdir
        self.site = site
        self.url = f"{'https' if site.tls_cert else 'http'}://{site.listen}"
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> NginxProcess:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed (apt-get install nginx-light)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "nginx.conf"
        conf.write_text(nginx(self.site, prefix=str(self.workdir)))
        check = subprocess.run([binary, "-t", "-c", str(conf)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx refused the configuration: {check.stderr}")
        self.proc = subprocess.Popen(
            [binary, "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_http(
            self.url.replace("https://", "http://"), self.proc
        ) if not self.site.tls_cert else (
            wait_tcp(self.site.listen_host, self.site.listen_port, self.proc)
        )
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=15)
