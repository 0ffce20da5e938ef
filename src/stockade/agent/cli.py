"""The `stockade-agent` command."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import httpx
import typer

from stockade.agent import state
from stockade.agent.agent import Agent, enroll
from stockade.agent.model import AgentStopped, NotEnrolled

app = typer.Typer(help="Stockade reference device agent (Linux).", no_args_is_help=True)
StateDir = Annotated[
    Path, typer.Option("--state-dir", help="Where the credential and buffer live (0700)")
]
DEFAULT_STATE = Path("/var/lib/stockade-agent")


def _read_token(token_file: str) -> str:
    """The enrollment token comes from a file or stdin, never the command line (argv is
    visible to every user of the machine)."""
    raw = sys.stdin.read() if token_file == "-" else Path(token_file).read_text()
    token = raw.strip()
    if not token:
        raise typer.BadParameter("the token file is empty", param_hint="--token-file")
    return token


def _fail(exc: Exception) -> None:
    typer.echo(f"stockade-agent: {exc}; stopping", err=True)
    raise typer.Exit(getattr(exc, "exit_code", 1))


@app.command("enroll")
def enroll_command(
    server: Annotated[str, typer.Option(help="Server base URL, e.g. https://stockade.example")],
    user: Annotated[str, typer.Option(help="userPrincipalName of the device's user")],
    token_file: Annotated[
        str, typer.Option("--token-file", help="File holding the enrollment token, or - for stdin")
    ],
    state_dir: StateDir = DEFAULT_STATE,
    device_name: Annotated[str | None, typer.Option(help="Default: the hostname")] = None,
) -> None:
    """Enroll this machine with an enrollment token (`set_...`)."""
    try:
        enrolled = enroll(server, _read_token(token_file), user, state_dir, device_name=device_name)
    except (AgentStopped, httpx.TransportError) as exc:
        _fail(exc)
        return
    typer.echo(f"enrolled as managed device {enrolled.managed_device_id}")


@app.command()
def run(
    state_dir: StateDir = DEFAULT_STATE,
    tail: Annotated[
        list[Path] | None, typer.Option(help="NDJSON log file to ship (repeatable)")
    ] = None,
    once: Annotated[bool, typer.Option(help="One check-in and one shipment, then exit")] = False,
    ship_interval: Annotated[float, typer.Option(help="Seconds between shipments")] = 5.0,
    sensor_os_platform: Annotated[
        str, typer.Option(help="osPlatform told to threat defense when onboarding")
    ] = "Linux",
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Check in on schedule, apply the onboarding profile and ship telemetry until stopped."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        agent = Agent(
            state_dir,
            list(tail or []),
            httpx.Client(timeout=60),
            sensor_os_platform=sensor_os_platform,
            ship_interval=ship_interval,
        )
        if once:
            agent.cycle()
            typer.echo(
                f"checked in; {agent.spool.pending_lines()} lines still buffered; "
                f"next check-in in {agent.state.next_check_in_seconds} s"
            )
            return
        agent.run(stop=stopping.is_set)
    except (AgentStopped, NotEnrolled) as exc:
        _fail(exc)
    except httpx.TransportError as exc:
        _fail(RuntimeError(f"server unreachable: {exc}"))


@app.command()
def status(state_dir: StateDir = DEFAULT_STATE) -> None:
    """What this agent is enrolled as, and how much telemetry waits in its buffer."""
    try:
        current = state.load(state_dir)
    except NotEnrolled as exc:
        _fail(exc)
        return
    pending = sum(len(p.read_bytes().splitlines()) for p in (state_dir / "buffer").glob("*.ndjson"))
    typer.echo(
        f"server {current.server}\nmanaged device {current.managed_device_id}\n"
        f"sensor onboarded: {'yes' if current.sensor_credential else 'no'}\n"
        f"buffered lines: {pending}"
    )


if __name__ == "__main__":
    app()
