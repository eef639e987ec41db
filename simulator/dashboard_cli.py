"""`hakuna-sim dashboard`: a link that logs a key into a running simulator's dashboard
once (valid ten minutes), printed, and opened where a browser exists."""

from __future__ import annotations

import os
import sys
import webbrowser

import httpx

from simulator.report_cli import DEFAULT_BASE_URL


def open_dashboard(base_url: str | None, api_key: str | None, open_browser: bool) -> int:
    base_url = base_url or os.environ.get("HAKUNA_BASE_URL") or DEFAULT_BASE_URL
    api_key = api_key or os.environ.get("HAKUNA_API_KEY")
    if not api_key:
        print("hakuna-sim dashboard: --api-key (or HAKUNA_API_KEY) names the sandbox to show", file=sys.stderr)
        return 2
    root = base_url.rstrip("/").removesuffix("/sandbox")
    try:
        response = httpx.post(root + "/__sim/login-links", headers={"Authorization": f"Bearer {api_key}"}, timeout=30)
    except httpx.TransportError as exc:
        print(f"hakuna-sim dashboard: no simulator at {root} ({exc})", file=sys.stderr)
        return 2
    if response.status_code != 200:
        print(f"hakuna-sim dashboard: {root} answered {response.status_code}: {response.text}", file=sys.stderr)
        return 2
    link = root + response.json()["url"]
    print(f"the dashboard of key …{api_key[-4:]}, logged in once (valid 10 minutes): {link}")
    if open_browser and not os.environ.get("CI"):
        webbrowser.open(link)
    return 0
