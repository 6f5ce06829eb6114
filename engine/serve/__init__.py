"""`sikao serve`: an OpenAI-compatible HTTP server over one LLM, with continuous batching,
Prometheus metrics and a response cache. `Server(llm, ServeConfig(...))` holds the state,
`create_app(server)` is the ASGI app, `serve()` runs it with uvicorn."""
from __future__ import annotations

import socket

from engine.serve.app import create_app
from engine.serve.server import ServeConfig, Server


def bind(host: str, port: int) -> socket.socket:
    """The listening socket (port 0: any free one). Binding here, not in uvicorn, turns a taken
    port into an OSError the CLI can report in one line."""
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    return socket.create_server(address, family=family)


def serve(llm, config: ServeConfig, sock: socket.socket | None = None,
          log_level: str = "warning") -> None:
    import uvicorn

    sock = sock or bind(config.host, config.port)
    app = create_app(Server(llm, config))
    uvicorn.Server(uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=5)
                   ).run(sockets=[sock])


__all__ = ["ServeConfig", "Server", "bind", "create_app", "serve"]
