"""Recording what the contract flows exchange with a server, for `hakuna-sim parity`.

With `HAKUNA_RECORD=FILE` set, the flows' client appends every exchange to FILE as one
JSON line: the test, its running number within the test, the request (method, path below
the API's base, query) and the answer (status, body). With `HAKUNA_UNIQUE_SEED` set, the
ids each test makes are derived from the seed and the test's name instead of drawn at
random, so two runs against two servers send the same requests, in the same order.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import threading
from pathlib import Path

import httpx

from contract_tests.client import shared_tls

RECORD = "HAKUNA_RECORD"
UNIQUE_SEED = "HAKUNA_UNIQUE_SEED"
_lock = threading.Lock()


def unique_id(test: str) -> str | None:
    """A stable 12-character id for `test` when a seed is set (else None)."""
    seed = os.environ.get(UNIQUE_SEED)
    return hashlib.sha256(f"{seed}:{test}".encode()).hexdigest()[:12] if seed else None


class RecordingTransport(httpx.BaseTransport):
    def __init__(self, file: str, test: str, inner: httpx.BaseTransport | None = None):
        self.file = Path(file)
        self.test = test
        self.inner = inner or httpx.HTTPTransport(verify=shared_tls())
        self.numbers = itertools.count(1)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        body = response.read()
        path = request.url.path
        line = {
            "test": self.test,
            "seq": next(self.numbers),
            "method": request.method,
            "path": path[path.index("/sandbox") + len("/sandbox") :] if "/sandbox" in path else path,
            "query": request.url.query.decode("latin-1"),
            "status": response.status_code,
            "body": body.decode("utf-8", "replace"),
        }
        with _lock, self.file.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
        return response

    def close(self) -> None:
        self.inner.close()


def recording_transport(test: str) -> RecordingTransport | None:
    file = os.environ.get(RECORD)
    return RecordingTransport(file, test) if file else None
