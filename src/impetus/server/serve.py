"""Run the app under uvicorn with our logging, and shut down cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys

from impetus.config import Settings


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s level=%(levelname)s logger=%(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log would duplicate ours (which also has latency and tokens).
    logging.getLogger("uvicorn.access").disabled = True


def run(settings: Settings) -> int:
    import uvicorn

    from impetus.server.app import create_app

    configure_logging(settings.log_level)
    # The scheduler thread needs the GIL back the moment llama_decode returns; with the default
    # 5 ms switch interval it could wait behind the event loop for half a decode step.
    sys.setswitchinterval(0.0005)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
        # The engine thread does the work; one event loop serves all connections.
        workers=1,
    )
    server = uvicorn.Server(config)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal; after a
    # graceful shutdown we want exit status 0, not death by signal.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.run()
    except (KeyboardInterrupt, SystemExit):
        pass
    # uvicorn exits the process with status 1 when it cannot bind; report that to the caller.
    return 0 if server.started else 1
