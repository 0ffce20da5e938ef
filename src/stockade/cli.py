"""The `stockade` command."""

from __future__ import annotations

import shutil
import signal
import sys
import threading
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stockade import __version__
from stockade.detection import cli as detection_cli
from stockade.settings import Settings
from stockade.vulnerability.cli import app as vuln_app

app = typer.Typer(help="Stockade: threat defense, device management and conditional access.")
tenant_app = typer.Typer(help="Tenants (operator commands, run on the server).")
db_app = typer.Typer(help="Database schema.")
app.add_typer(tenant_app, name="tenant")
app.add_typer(db_app, name="db")
app.add_typer(detection_cli.rules_app, name="rules")
app.command("hunt")(detection_cli.hunt)
app.add_typer(vuln_app, name="vuln")
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (STOCKADE_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (STOCKADE_PORT)")] = None,
) -> None:
    """Run the API, forward auth and workers in one process."""
    from stockade.http.app import create_app
    from stockade.http.server import serve as run
    from stockade.services import Services

    settings = Settings()
    if host:
        settings.host = host
    if port is not None:
        settings.port = port
    services = Services.build(settings)
    run(create_app(services), settings.host, settings.port)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    from stockade.storage.database import Database
    from stockade.storage.migrate import upgrade

    settings = Settings()
    db = Database(settings.effective_database_url)
    upgrade(db)
    console.print(f"schema up to date on {db.engine.url.render_as_string(hide_password=True)}")


@tenant_app.command("create")
def tenant_create(
    name: str,
    token_name: Annotated[
        str, typer.Option(help="Name of the first admin API token")
    ] = "bootstrap",
) -> None:
    """Create a tenant and print its first GlobalAdministrator API token (shown once)."""
    from stockade.core.errors import StockadeError
    from stockade.directory.model import Role
    from stockade.services import Services

    services = Services.build(Settings())
    try:
        tenant, issued = services.directory.create_tenant(name, token_name=token_name)
    except StockadeError as exc:
        err.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(2) from None
    console.print(f"tenant  {tenant.name}  {tenant.id}")
    console.print(f"token   {issued.credential}  ({Role.GLOBAL_ADMINISTRATOR.value}, {token_name})")


@tenant_app.command("list")
def tenant_list() -> None:
    """List tenants."""
    from stockade.services import Services

    services = Services.build(Settings())
    table = Table("name", "id", "created")
    for t in services.directory.list_tenants():
        table.add_row(t.name, t.id, t.created_at.isoformat(timespec="seconds"))
    console.print(table)


@app.command("proxy-config")
def proxy_config(
    proxy: Annotated[str, typer.Argument(help="nginx, traefik, caddy or envoy")],
    tenant: Annotated[str, typer.Option(help="Tenant name or id")],
    app_id: Annotated[str, typer.Option("--app", help="Application id the policies name")],
    upstream: Annotated[str, typer.Option(help="The protected app, e.g. http://127.0.0.1:9000")],
    stockade_url: Annotated[str, typer.Option("--stockade", help="Stockade's URL")] = (
        "http://127.0.0.1:8080"
    ),
    listen: Annotated[str, typer.Option(help="Where the proxy listens")] = "127.0.0.1:8443",
    tls_cert: Annotated[str, typer.Option(help="nginx: server certificate (enables TLS)")] = "",
    tls_key: Annotated[str, typer.Option(help="nginx: server key")] = "",
    client_ca: Annotated[
        str, typer.Option(help="nginx: the tenant's device CA, to verify device certificates")
    ] = "",
) -> None:
    """Print a ready configuration putting Stockade's forward auth in front of an app."""
    from stockade.access.proxies import RENDERERS, ProxySite

    render = RENDERERS.get(proxy)
    if render is None:
        err.print(f"[red]error:[/red] unknown proxy {proxy!r}; one of {', '.join(RENDERERS)}")
        raise typer.Exit(2)
    settings = Settings()
    site = ProxySite(
        tenant, app_id, upstream, stockade_url, listen, settings.forward_auth_user_header
    )
    typer.echo(render(site), nl=False)


@app.command()
def demo(
    once: Annotated[bool, typer.Option("--once", help="Exit after the scenario")] = False,
    devices: Annotated[int, typer.Option(min=4, max=500, help="Simulated devices")] = 20,
    host: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 picks a free one)")] = 8080,
) -> None:
    """Play the seed scenario through the real HTTP API, then keep serving (unless --once).

    With the embedded default the demo uses its own fresh database in `<data dir>/demo/`.
    """
    from stockade.http.app import create_app
    from stockade.http.server import free_port, start_in_thread
    from stockade.services import Services
    from stockade.sim.demo import play
    from stockade.sim.device import StepFailed

    settings = Settings()
    if not settings.database_url:
        demo_dir = settings.data_dir / "demo"
        shutil.rmtree(demo_dir, ignore_errors=True)
        settings.data_dir = demo_dir
    settings.host = host
    settings.port = port or free_port(host)
    services = Services.build(settings)
    tenant_name = f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    _, issued = services.directory.create_tenant(tenant_name)
    server_app = create_app(services)
    try:
        server = start_in_thread(server_app, host, settings.port)
    except RuntimeError as exc:
        err.print(f"[red]error:[/red] {exc} (is the port in use? try --port 0)")
        raise typer.Exit(1) from None

    def ready() -> None:
        if not once:
            console.print(
                f"serving on {server.url} — API docs at {server.url}/docs; "
                f"admin token for {tenant_name}: {issued.credential}; Ctrl+C to stop"
            )

    try:
        ttc = play(server.url, tenant_name, str(issued.credential), devices=devices, on_ready=ready)
    except StepFailed as exc:
        err.print(f"[red]scenario failed:[/red] {exc}")
        server.stop()
        raise typer.Exit(1) from None
    console.print(f"time-to-contain: {ttc:.1f} ms")
    sys.stdout.flush()
    if once:
        server.stop()
        return
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    app()
