"""What `labgen class serve` does: check the options, open the class, make or load the TLS
certificate, and run the server until Ctrl-C (the students' shells close with it)."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from labgen.errors import UsageError


@dataclass(frozen=True)
class ServeOptions:
    host: str
    port: int
    cert: Path | None = None
    key: Path | None = None
    names: tuple[str, ...] = ()
    behind_proxy: bool = False
    insecure_http: bool = False
    grace: int = 900
    regrade: int = 300
    jobs: int = 4
    timeout: float = 60


def parse_listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
        number = int(port)
        if not 1 <= number <= 65535:
            raise ValueError
    except ValueError:
        raise UsageError(
            f"--listen {value}: use ADDR:PORT with an IP address, e.g. 0.0.0.0:443 or 127.0.0.1:8443"
        ) from None
    return host, number


def check_options(options: ServeOptions) -> None:
    """The transport rules: TLS unless a proxy terminates it; plain HTTP only on loopback."""
    if (options.cert is None) != (options.key is None):
        raise UsageError("--cert/--key: give both, or neither for a self-signed certificate")
    if options.behind_proxy and options.insecure_http:
        raise UsageError("--behind-proxy/--insecure-http: choose one")
    plain = options.behind_proxy or options.insecure_http
    if plain and options.cert is not None:
        raise UsageError(
            "--cert: this server speaks plain HTTP with --behind-proxy/--insecure-http; "
            "give the certificate to the proxy, or drop those options"
        )
    if options.insecure_http and not ipaddress.ip_address(options.host).is_loopback:
        raise UsageError(
            f"--insecure-http: {options.host} is not a loopback address and passwords would "
            "cross the network in clear; serve HTTPS (the default), or --behind-proxy"
        )


def default_names(server: str | None, host: str) -> list[str]:
    names = [name for name in (server, socket.gethostname()) if name]
    if not ipaddress.ip_address(host).is_unspecified:
        names.append(host)
    return [*names, "localhost", "127.0.0.1"]


def run(class_dir: Path, options: ServeOptions) -> None:
    check_options(options)
    # asyncssh still supports DSA keys and cryptography warns about it on import.
    warnings.filterwarnings("ignore", message=".*DSA.*", module="asyncssh")
    from aiohttp import web

    from labgen.workspace.room import open_room
    from labgen.workspace.server import Settings, Workspace, make_app
    from labgen.workspace.tls import fingerprint, self_signed, server_context

    room = open_room(class_dir)
    context: ssl.SSLContext | None = None
    scheme = "http"
    note = "plain HTTP, for the proxy in front" if options.behind_proxy else "plain HTTP"
    if not (options.behind_proxy or options.insecure_http):
        if options.cert is not None and options.key is not None:
            cert, key = options.cert, options.key
        else:
            names = list(options.names) or default_names(room.server, options.host)
            cert, key = self_signed(class_dir, names)
        context = server_context(cert, key)
        scheme = "https"
        note = f"certificate {cert}, SHA-256 {fingerprint(cert)}"
    settings = Settings(
        tls=not options.insecure_http,
        behind_proxy=options.behind_proxy,
        grace=options.grace,
        regrade=options.regrade,
        timeout=options.timeout,
        jobs=options.jobs,
    )
    space = Workspace(room, settings)
    shown = f"[{options.host}]" if ":" in options.host else options.host
    started = (
        f"serving {room.name} ({len(room.desks)} students) at {scheme}://{shown}:{options.port}/ "
        f"({note}); the teacher's secret is in {class_dir / 'secrets' / 'teacher'}; Ctrl-C stops"
    )
    try:
        web.run_app(
            make_app(space),
            host=options.host,
            port=options.port,
            ssl_context=context,
            # run_app calls this once the port is bound: our line instead of aiohttp's.
            print=lambda _message: print(started, file=sys.stderr, flush=True),
            access_log=None,
        )
    except OSError as error:
        raise UsageError(
            f"--listen {options.host}:{options.port}: {error.strerror or error}; "
            "pick a free port (below 1024 needs root)"
        ) from None
