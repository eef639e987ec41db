"""The simulator's own routes (/__sim) for the caller's key: set-up and inspection in
tests. Not part of the vendor's API: the real sandbox has none of them."""

from __future__ import annotations

from typing import Any

import httpx

from contract_tests.client import root_url, shared_tls


class SimControls:
    def __init__(self, base_url: str, api_key: str, transport: httpx.BaseTransport | None = None):
        self.root, self.api_key = root_url(base_url), api_key
        self._http = httpx.Client(
            base_url=self.root,
            transport=transport,
            timeout=10.0,
            verify=shared_tls(),
            headers={"Authorization": f"Bearer {api_key}", "Hakuna-Version": "v2.0"},
        )

    def _call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        response = self._http.request(method, path, json=body, params=params)
        if response.status_code != 200:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.headers.get("content-type", "").startswith("application/json") else response.text

    def available(self) -> bool:
        """Whether the server has the simulator's controls (the real sandbox has not)."""
        try:
            return self._http.get("/__sim/settings").status_code == 200
        except httpx.TransportError:
            return False

    def reset(self) -> None:
        self._call("POST", "/__sim/reset")

    def forget(self) -> None:
        """Drop this key's whole sandbox from the server (DELETE /__sim/sandbox)."""
        self._call("DELETE", "/__sim/sandbox")

    def settings(self, **changes: Any) -> Any:
        """This key's settings; with keyword arguments (`magic_values=True`,
        `refund_windows={"plan_alone_days": 7}`), changes those and keeps the rest."""
        if not changes:
            return self._call("GET", "/__sim/settings")
        return self._call("PUT", "/__sim/settings", changes)

    def set_faults(self, *rules: dict[str, Any] | list[dict[str, Any]]) -> Any:
        """Replace this key's fault rules: `set_faults(rule, rule, ...)` or
        `set_faults([rule, ...])`, each rule as PUT /__sim/faults takes it."""
        flat: list[dict[str, Any]] = []
        for rule in rules:
            flat.extend(rule if isinstance(rule, list) else [rule])
        return self._call("PUT", "/__sim/faults", {"faults": flat})

    def faults(self) -> Any:
        return self._call("GET", "/__sim/faults")

    def clear_faults(self) -> None:
        self._call("DELETE", "/__sim/faults")

    def put_catalog(self, catalog: dict[str, Any]) -> Any:
        return self._call("PUT", "/__sim/catalog", catalog)

    def state(self) -> Any:
        """This key's whole state, as a snapshot (GET /__sim/state, schemas/sim-state.json)."""
        return self._call("GET", "/__sim/state")

    def import_state(self, snapshot: dict[str, Any], rebase: bool = False) -> Any:
        """Replace this key's whole state with `snapshot`; `rebase` moves its times so
        that it reads as if taken now."""
        response = self._http.put("/__sim/state", json=snapshot, params={"rebase": "true" if rebase else "false"})
        if response.status_code != 200:
            raise RuntimeError(f"PUT /__sim/state: {response.status_code} {response.text}")
        return response.json()

    def journal(self, **filters: Any) -> Any:
        return self._call("GET", "/__sim/journal", params=filters)

    def report(self, integration: str | None = None) -> Any:
        """The conformance report with its readiness checklist (`integration`:
        storefront-and-erp, the default, or erp-only)."""
        return self._call("GET", "/__sim/report", params={"integration": integration} if integration else None)

    def close(self) -> None:
        self._http.close()
