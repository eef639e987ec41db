"""The simulator's own routes (/__sim) for the caller's key: set-up and inspection in
tests. Not part of the vendor's API: the real sandbox has none of them."""

from __future__ import annotations

from typing import Any

import httpx

from contract_tests.client import root_url


class SimControls:
    def __init__(self, base_url: str, api_key: str, transport: httpx.BaseTransport | None = None):
        self.root = root_url(base_url)
        self._http = httpx.Client(base_url=self.root, transport=transport, timeout=10.0,
                                  headers={"Authorization": f"Bearer {api_key}", "Hakuna-Version": "v1.3"})

    def _call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        response = self._http.request(method, path, json=body, params=params)
        if response.status_code != 200:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.headers.get("content-type", "").startswith("application/json") \
            else response.text

    def available(self) -> bool:
        """Whether the server has the simulator's controls (the real sandbox has not)."""
        try:
            return self._http.get("/__sim/settings").status_code == 200
        except httpx.TransportError:
            return False

    def reset(self) -> None:
        self._call("POST", "/__sim/reset")

    def settings(self, **changes: Any) -> Any:
        if not changes:
            return self._call("GET", "/__sim/settings")
        current = self._call("GET", "/__sim/settings")
        current.update(changes)
        return self._call("PUT", "/__sim/settings", current)

    def set_faults(self, *rules: dict[str, Any]) -> Any:
        return self._call("PUT", "/__sim/faults", {"faults": list(rules)})

    def faults(self) -> Any:
        return self._call("GET", "/__sim/faults")

    def clear_faults(self) -> None:
        self._call("DELETE", "/__sim/faults")

    def put_catalog(self, catalog: dict[str, Any]) -> Any:
        return self._call("PUT", "/__sim/catalog", catalog)

    def journal(self, **filters: Any) -> Any:
        return self._call("GET", "/__sim/journal", params=filters)

    def report(self) -> Any:
        return self._call("GET", "/__sim/report")

    def close(self) -> None:
        self._http.close()
