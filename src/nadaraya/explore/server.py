"""Run the explore page on a Bokeh server bound to 127.0.0.1.

BokehJS is served from the installed ``bokeh`` package (no CDN), so the page
works offline. Each browser tab gets its own document and state.
"""

from __future__ import annotations

import sys

from .._optional import require

HOST = "127.0.0.1"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now (the OS picks it)."""
    from bokeh.server.util import bind_sockets

    sockets, port = bind_sockets(HOST, 0)
    for s in sockets:
        s.close()
    return port


def make_server(port: int = 0):
    """A started-on-demand ``bokeh.server.server.Server`` serving the page at ``/`` on 127.0.0.1:``port``.

    ``port=0`` picks a free port. Only pages loaded from this host and port
    may open its websocket.
    """
    require("bokeh", "explore")
    from bokeh.application import Application
    from bokeh.application.handlers.function import FunctionHandler
    from bokeh.server.server import Server

    from .app import build_document

    port = free_port() if port == 0 else port
    try:
        return Server(
            {"/": Application(FunctionHandler(build_document))},
            address=HOST,
            port=port,
            allow_websocket_origin=[f"{HOST}:{port}", f"localhost:{port}"],
            num_procs=1,
        )
    except OSError as exc:
        raise OSError(f"cannot listen on {HOST}:{port} ({exc.strerror or exc}); choose another --port, "
                      "or 0 for a free one") from None


def serve(port: int = 0, open_browser: bool = True) -> int:
    """Serve the page until Ctrl+C or SIGTERM; prints its address first. Returns the exit status."""
    server = make_server(port)
    url = f"http://{HOST}:{server.port}/"
    print(f"nadaraya explore: serving {url} (Ctrl+C stops it)", flush=True)
    if open_browser:
        server.io_loop.add_callback(server.show, "/")
    server.run_until_shutdown()  # returns on SIGTERM or Ctrl+C
    print("nadaraya explore: stopped", file=sys.stderr, flush=True)
    return 0
