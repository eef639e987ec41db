"""A simulator on a free loopback port in a background thread of this process: what the
pytest plugin and the contract tests run against by default."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

from simulator.config import SimConfig
from simulator.contract.catalog import load_catalog
from simulator.contract.resources import default_catalog_path
from simulator.web.app import create_app


class BackgroundSimulator:
    def __init__(self, config: SimConfig | None = None, host: str = "127.0.0.1"):
        self.config = config or SimConfig(catalog=load_catalog(default_catalog_path()))
        self.app = create_app(self.config)
        with socket.socket() as s:
            s.bind((host, 0))
            self.port = int(s.getsockname()[1])
        self.root = f"http://{host}:{self.port}"
        self.base_url = self.root + "/sandbox"
        self._server = uvicorn.Server(
            uvicorn.Config(self.app, host=host, port=self.port, log_level="warning", access_log=False, lifespan="on")
        )
        self._thread = threading.Thread(target=self._server.run, name="hakuna-sim", daemon=True)

    def start(self) -> BackgroundSimulator:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the background simulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> BackgroundSimulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
