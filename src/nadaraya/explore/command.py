"""The ``nadaraya explore`` subcommand (argparse only; Bokeh is imported when it runs)."""

from __future__ import annotations


def add_parser(sub) -> None:
    """Register ``explore`` on the CLI's subparsers."""
    p = sub.add_parser(
        "explore",
        help="interactive page: change kernel, bandwidth, data and watch the attention weights (needs the explore extra)",
        description="Serve the chapter as an interactive page on 127.0.0.1, fully offline (Bokeh server). "
        "Stop it with Ctrl+C.",
    )
    p.add_argument("--port", type=int, default=0, help="port to listen on (default: 0, a free port)")
    p.add_argument("--no-browser", action="store_true", help="do not open a web browser on the page")
    p.set_defaults(func=_explore)


def _explore(args) -> int:
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be between 0 (a free port) and 65535; got {args.port}")
    from .server import serve

    return serve(port=args.port, open_browser=not args.no_browser)
