"""The report as it is served: the rules' findings, shadow mode's parity differences and
the readiness checklist in one body (docs/contract.md §8), and that body as JUnit XML."""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from xml.etree import ElementTree

from simulator.report import readiness as checklist
from simulator.report.rules import ERROR, RULES, WARNING, fails, findings, judged, key_tag
from simulator.state.tenant import TenantView


def report(t: TenantView, integration: str = checklist.DEFAULT_INTEGRATION) -> dict[str, Any]:
    journal = judged(t)
    found = findings(t, journal)
    ready = checklist.readiness(t, journal, found, integration)
    journal.release()
    return {
        "summary": {
            "errors": sum(1 for f in found if f.severity == ERROR),
            "warnings": sum(1 for f in found if f.severity == WARNING),
            "rules_checked": len(RULES),
            "journal_dropped": t.dropped,
            "parity_differences": len(t.parity),
            "ready": ready["ready"],
        },
        "findings": [f.as_body() for f in found],
        "parity": [parity_finding(p) for p in t.parity],
        "readiness": ready,
    }


def parity_finding(p: dict[str, Any]) -> dict[str, Any]:
    """Shadow mode: a request the simulator answered otherwise than the upstream, with
    both answers side by side and the rule of docs/fidelity.md that disagreed."""
    return {
        "rule_id": "parity",
        "severity": ERROR,
        "message": (
            f"{p['method']} {p['path']}: the simulator answers otherwise than the upstream "
            f"({'; '.join(p['differences'])}); the simulator's rule: {p['fidelity']}"
        ),
        "request_ids": [p["request_id"]],
        "fidelity": p["fidelity"],
        "differences": p["differences"],
        "simulator": p["simulator"],
        "upstream": p["upstream"],
    }


def junit(body: dict[str, Any], fail_on: str = ERROR, key: str | None = None, require_ready: bool = False) -> str:
    """The report as JUnit XML: one test case per rule, failed by its findings of
    `fail_on`'s severity or worse, exactly when `hakuna-sim report --fail-on` exits 1;
    milder findings are the case's output. Then one case per readiness item: a required
    item that did not pass fails under `require_ready` (`hakuna-sim report
    --require-ready`), and is skipped otherwise. The suite and its class name the key, so
    the reports of several keys merged into one file keep their cases apart."""
    tag = key_tag(key) if key else None
    suite = ElementTree.Element("testsuite", name="hakuna-sim conformance" + (f", key {tag}" if tag else ""))
    classname = "hakuna-sim.conformance" + (f".{tag}" if tag else "")
    by_rule: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in body["findings"]:
        by_rule[f["rule_id"]].append(f)
    cases: list[tuple[str, list[dict[str, Any]], str]] = [(rule.id, by_rule[rule.id], rule.severity) for rule in RULES]
    if body.get("parity"):  # shadow mode's differences, as one more case
        cases.insert(0, ("parity", body["parity"], ERROR))
    failures = 0
    for name, found, _ in cases:
        case = ElementTree.SubElement(suite, "testcase", classname=classname, name=name)
        failing = [f for f in found if fails(f["severity"], fail_on)]
        text = "\n".join(f"{f['severity']}: {f['message']} (requests: {', '.join(f['request_ids'])})" for f in found)
        if failing:
            failures += 1
            failure = ElementTree.SubElement(case, "failure", type=failing[0]["severity"], message=failing[0]["message"][:500])
            failure.text = text
        elif found:
            ElementTree.SubElement(case, "system-out").text = text
    ready_class = "hakuna-sim.readiness" + (f".{tag}" if tag else "")
    items = body.get("readiness", {}).get("items", [])
    for item in items:
        case = ElementTree.SubElement(suite, "testcase", classname=ready_class, name=item["id"])
        text = checklist_text(item)
        if item["status"] == checklist.PASSED:
            continue
        if item["required"] and require_ready:
            failures += 1
            failure = ElementTree.SubElement(case, "failure", type=item["status"], message=f"{item['id']}: {item['status']}")
            failure.text = text
        elif item["status"] == checklist.NOT_EXERCISED:
            ElementTree.SubElement(case, "skipped", message=f"{item['id']}: not exercised").text = text
        else:
            ElementTree.SubElement(case, "system-out").text = text
    suite.set("tests", str(len(cases) + len(items)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(suite, encoding="unicode") + "\n"


def checklist_text(item: dict[str, Any]) -> str:
    """One readiness item for a person: its status, what went wrong, or how to exercise it."""
    lines = [f"{item['id']}: {item['status']}{'' if item['required'] else ' (optional)'} - {item['summary']} ({item['source']})"]
    for f in item.get("findings", ()):
        lines.append(f"  {f['message']} (requests: {', '.join(f['request_ids'])})")
    if "how" in item:
        lines.append(f"  how: {item['how']['text']}")
    return "\n".join(lines)
