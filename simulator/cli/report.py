"""`hakuna-sim report`: fetch a key's conformance report from a running simulator,
print it for a person, optionally write JUnit XML, and exit non-zero when findings
reach the threshold (for CI)."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from typing import Any

import httpx

from simulator.report.rules import fails


def render(report: dict[str, Any]) -> str:
    summary = report["summary"]
    lines = [
        f"hakuna-sim conformance report: {summary['errors']} error(s), {summary['warnings']} warning(s), "
        f"{summary['rules_checked']} rules checked"
    ]
    if summary.get("journal_dropped"):
        lines.append(f"(the journal dropped its {summary['journal_dropped']} oldest requests: they were not judged)")
    if not report["findings"]:
        lines.append("No findings: nothing this key's traffic shows is wrong.")
    for finding in report["findings"]:
        lines.append("")
        lines.append(f"{finding['severity'].upper():7} {finding['rule_id']}")
        lines.extend(textwrap.wrap(finding["message"], width=100, initial_indent="        ", subsequent_indent="        "))
        lines.append("        requests: " + ", ".join(finding["request_ids"]))
    return "\n".join(lines)


DEFAULT_BASE_URL = "http://127.0.0.1:8765"


def simulator_and_key(command: str, base_url: str | None, api_key: str | None) -> tuple[str, str] | None:
    """The simulator's root URL and the key a command acts for, from its arguments or
    HAKUNA_BASE_URL and HAKUNA_API_KEY; None (said on stderr) without a key."""
    base_url = base_url or os.environ.get("HAKUNA_BASE_URL") or DEFAULT_BASE_URL
    api_key = api_key or os.environ.get("HAKUNA_API_KEY")
    if not api_key:
        print(f"hakuna-sim {command}: --api-key (or HAKUNA_API_KEY) names the sandbox", file=sys.stderr)
        return None
    return base_url.rstrip("/").removesuffix("/sandbox"), api_key


def sim_headers(api_key: str) -> dict[str, str]:
    """What the commands send: the key, and a version, which a --strict server requires."""
    return {"Authorization": f"Bearer {api_key}", "Hakuna-Version": "v2.0"}


def ask_simulator(command: str, method: str, url: str, refusals: bool = False, **options: Any) -> httpx.Response | None:
    """One request of a command to a running simulator; None (said on stderr) when no
    simulator answers or, unless the command explains `refusals` itself, it refuses."""
    try:
        response = httpx.request(method, url, timeout=60, **options)
    except httpx.TransportError as exc:
        print(f"hakuna-sim {command}: no simulator at {url} ({exc})", file=sys.stderr)
        return None
    if response.status_code != 200 and not refusals:
        print(f"hakuna-sim {command}: {url} answered {response.status_code}: {response.text}", file=sys.stderr)
        return None
    return response


def print_report(
    base_url: str | None,
    api_key: str | None,
    junit_xml: str | None,
    fail_on: str,
    require_ready: bool = False,
    integration: str = "storefront-and-erp",
) -> int:
    found = simulator_and_key("report", base_url, api_key)
    if found is None:
        return 2
    root, api_key = found
    query = f"integration={integration}"
    response = ask_simulator("report", "GET", f"{root}/__sim/report?{query}", headers=sim_headers(api_key))
    if response is None:
        return 2
    report = response.json()
    if junit_xml:
        junit_query = f"{query}&format=junit&fail_on={fail_on}&require_ready={str(require_ready).lower()}"
        xml = ask_simulator("report", "GET", f"{root}/__sim/report?{junit_query}", headers=sim_headers(api_key))
        if xml is None:
            return 2
        with open(junit_xml, "w", encoding="utf-8") as out:
            out.write(xml.text)
    print(render(report))
    print()
    print(render_readiness(report["readiness"]))
    failing = any(fails(f["severity"], fail_on) for f in report["findings"])
    return 1 if failing or (require_ready and not report["readiness"]["ready"]) else 0


def render_readiness(ready: dict[str, Any]) -> str:
    """The go-live checklist: every item's status; for one that did not pass, what went
    wrong or how to exercise it here."""
    lines = [
        f"go-live readiness ({ready['integration']}): "
        + ("ready" if ready["ready"] else f"NOT ready, missing {', '.join(ready['missing'])}")
    ]
    for item in ready["items"]:
        mark = {"passed": "ok  ", "failed": "FAIL", "not_exercised": "----"}[item["status"]]
        lines.append(f"  {mark} {item['id']}{'' if item['required'] else ' (optional)'}: {item['summary']}")
        for f in item.get("findings", ()):
            lines.extend(textwrap.wrap(f["message"], width=100, initial_indent="         ", subsequent_indent="         "))
        if "how" in item:
            lines.extend(
                textwrap.wrap(
                    "how: " + item["how"]["text"], width=100, initial_indent="         ", subsequent_indent="           "
                )
            )
            for step in item["how"]["steps"]:
                lines.append("           " + _step_text(step))
    return "\n".join(lines)


def _step_text(step: dict[str, Any]) -> str:
    if "wait_seconds" in step:
        return f"wait {step['wait_seconds']} s"
    text = f"{step['method']} {step['path']}"
    for name, value in step.get("headers", {}).items():
        text += f"  ({name}: {value})"
    if "body" in step:
        text += "  " + json.dumps(step["body"], separators=(",", ":"))
    return text + f"  -> {step['expect']}"
