"""`labgen class serve CLASS`: thin; options checked here, the work in serve.py."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("serve")
@click.argument(
    "class_dir", metavar="CLASS", type=click.Path(path_type=Path, file_okay=False, exists=True)
)
@click.option(
    "--listen",
    default="0.0.0.0:443",
    show_default=True,
    metavar="ADDR:PORT",
    help="Address and port to serve on (HTTPS and WebSocket on one port).",
)
@click.option(
    "--cert",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="TLS certificate (PEM); default: a self-signed one kept in CLASS/secrets.",
)
@click.option(
    "--key",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The certificate's private key (PEM).",
)
@click.option(
    "--name",
    "names",
    multiple=True,
    metavar="NAME",
    help="Names and addresses students type, for the self-signed certificate (repeatable) [default: the class's server, this host's name, the listen address].",
)
@click.option(
    "--behind-proxy",
    is_flag=True,
    help="Plain HTTP for a reverse proxy that terminates TLS (it must pass Host and X-Forwarded-For).",
)
@click.option(
    "--insecure-http", is_flag=True, help="Plain HTTP without a proxy: only on a loopback address."
)
@click.option(
    "--grace",
    type=click.IntRange(10, 86400),
    default=900,
    show_default=True,
    help="Seconds a student's shell is kept after their page goes away.",
)
@click.option(
    "--regrade",
    type=click.IntRange(0, 86400),
    default=300,
    show_default=True,
    help="Seconds between two regrades of the whole class (0: only on 'check my work').",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="How many labs to grade at the same time.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(1, 3600),
    default=60,
    show_default=True,
    help="Seconds each goal check may take.",
)
def serve(
    class_dir: Path,
    listen: str,
    cert: Path | None,
    key: Path | None,
    names: tuple[str, ...],
    behind_proxy: bool,
    insecure_http: bool,
    grace: int,
    regrade: int,
    jobs: int,
    timeout: float,
) -> None:
    """hosted: serve the class in a browser: each student's handout beside a terminal into
    their lab, "check my work", and the teacher's live report, on one HTTPS port."""
    from labgen.workspace.serve import ServeOptions, parse_listen, run

    host, port = parse_listen(listen)
    run(
        class_dir,
        ServeOptions(
            host=host,
            port=port,
            cert=cert,
            key=key,
            names=names,
            behind_proxy=behind_proxy,
            insecure_http=insecure_http,
            grace=grace,
            regrade=regrade,
            jobs=jobs,
            timeout=timeout,
        ),
    )
