"""`hakuna-sim serve` with its responses sent as uvicorn sends them (status line and
headers in one write, the body in another), for `benchmarks/run.py --one-send` to
measure what `simulator/web/connections._OneSend` is worth side by side."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # noqa: E402

from simulator.cli.main import main  # noqa: E402
from simulator.web import connections  # noqa: E402


def on_headers_complete(self: connections.GuardedHttpToolsProtocol) -> None:
    self._in_head = False
    HttpToolsProtocol.on_headers_complete(self)


connections.GuardedHttpToolsProtocol.on_headers_complete = on_headers_complete  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main())
