"""`hakuna-sim dashboard`: a link that logs a key into a running simulator's dashboard
once (valid ten minutes), printed, and opened where a browser exists."""

from __future__ import annotations

import os
import webbrowser

from simulator.cli.report import ask_simulator, sim_headers, simulator_and_key


def open_dashboard(base_url: str | None, api_key: str | None, open_browser: bool) -> int:
    found = simulator_and_key("dashboard", base_url, api_key)
    if found is None:
        return 2
    root, api_key = found
    response = ask_simulator("dashboard", "POST", root + "/__sim/login-links", headers=sim_headers(api_key))
    if response is None:
        return 2
    link = root + response.json()["url"]
    print(f"the dashboard of key …{api_key[-4:]}, logged in once (valid 10 minutes): {link}")
    if open_browser and not os.environ.get("CI"):
        webbrowser.open(link)
    return 0
