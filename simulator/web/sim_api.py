"""The simulator's own surface under /__sim (docs/contract.md §7): set-up and inspection
for the caller's tenant. Not part of the vendor's API."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from simulator.contract import schemas
from simulator.contract.catalog import build_catalog, catalog_document, catalog_problems
from simulator.contract.queries import parse_query
from simulator.domain.errors import invalid
from simulator.domain.faults import FaultPlan, parse_rules
from simulator.domain.orders import RefundWindows
from simulator.facade import Sandbox
from simulator.pacing import pace
from simulator.report import document, readiness, rules
from simulator.state.journal import select
from simulator.state.tenant import TenantView
from simulator.web.dashboard import LoginLinks
from simulator.web.requests import dumps, parse_json
from simulator.web.transport import Call, Offload, Pipeline, Raw, Upload

MAX_SNAPSHOT = 64 * 1024 * 1024  # a whole key: its journal and idempotency keys alone may hold 16 MiB


def _flag(query: dict[str, str], name: str) -> bool:
    value = query.get(name, "false")
    if value not in ("true", "false"):
        raise invalid([f"query.{name} must be true or false, not {value!r}"])
    return value == "true"


def routes(pipeline: Pipeline, sandbox: Sandbox, links: LoginLinks) -> list[BaseRoute]:
    def login_link(call: Call) -> Any:
        """A link that logs this key into the dashboard once (`hakuna-sim dashboard`)."""
        return {"url": f"/__sim/login/{links.create(call.tenant.key)}", "valid_for_seconds": int(links.VALID_FOR)}

    def forget(call: Call) -> Any:
        """The key's whole sandbox goes, its catalog and settings too: what a test suite
        calls when a test's key is done with, so a long suite keeps the server flat."""
        sandbox.tenants.forget(call.tenant.key)
        return {"forgotten": True}

    def reset(call: Call) -> Any:
        call.tenant.clear()
        return {"reset": True}

    def settings(call: Call) -> Any:
        if call.request.method == "PUT":  # partial: what the body leaves out stays as it is
            body = call.validated("sim-settings.json")
            windows = call.tenant.refund_windows
            call.tenant.set_settings(
                RefundWindows(**{**asdict(windows), **body.get("refund_windows", {})}),
                body.get("magic_values", call.tenant.magic_values),
            )
        windows = call.tenant.refund_windows
        return {
            "refund_windows": {"plan_alone_days": windows.plan_alone_days, "with_product_months": windows.with_product_months},
            "magic_values": call.tenant.magic_values,
        }

    def faults(call: Call) -> Any:
        if call.request.method == "PUT":
            call.tenant.set_faults(FaultPlan(parse_rules(call.validated("sim-faults.json"))))
        elif call.request.method == "DELETE":
            call.tenant.set_faults(FaultPlan())
        return {"faults": [rule.as_body() for rule in call.tenant.faults.rules]}

    def journal(call: Call) -> Any:
        query = parse_query(call.request.scope["query_string"])
        status = query.get("status")
        if status is not None and not (status.isascii() and status.isdigit() and len(status) == 3):
            raise invalid([f"status must be an HTTP status code, not {status!r}"])
        limit = call.tenant.journal.limit

        def read(view: TenantView) -> Any:
            found = select(
                view.entries,
                path=query.get("path"),
                status=int(status) if status else None,
                cart_id=query.get("cart_id"),
                order_id=query.get("order_id"),
                method=query.get("method"),
            )
            head = dumps({"limit": limit, "dropped": view.dropped})[:-1]
            encoded = []
            for e in found:
                pace()
                encoded.append(e.as_json())
            return Raw(head + b',"entries":[' + b",".join(encoded) + b"]}")

        return Offload(read, call.tenant.view(with_items=False))

    def report(call: Call) -> Any:
        query = parse_query(call.request.scope["query_string"])
        shape = query.get("format", "json")
        if shape not in ("json", "junit"):
            raise invalid([f"query.format must be json or junit, not {shape!r}"])
        fail_on = query.get("fail_on", rules.ERROR)
        if fail_on not in rules.SEVERITY_RANK:
            raise invalid([f"query.fail_on must be error or warning (as hakuna-sim report --fail-on), not {fail_on!r}"])
        integration = query.get("integration", readiness.DEFAULT_INTEGRATION)
        if integration not in readiness.INTEGRATIONS:
            raise invalid([f"query.integration must be {' or '.join(readiness.INTEGRATIONS)}, not {integration!r}"])
        require_ready = _flag(query, "require_ready")
        key = call.tenant.key

        def read(view: TenantView) -> Any:
            body = document.report(view, integration)
            if shape == "junit":
                return Response(document.junit(body, fail_on, key, require_ready), media_type="application/xml")
            return Raw(dumps(body))

        return Offload(read, call.tenant.view())

    def catalog(call: Call) -> Any:
        if call.request.method == "PUT":
            problems = catalog_problems(schemas.normalize(call.body).document)
            if problems:
                raise invalid(problems)
            call.tenant.set_catalog(build_catalog(call.body))
        return catalog_document(call.tenant.catalog)

    def state(call: Call) -> Any:
        """This key's whole state as a snapshot (schemas/sim-state.json), built off the event loop."""
        view, build = call.tenant.snapshot(sandbox.clock())
        return Offload(lambda complete: Raw(dumps(build(complete))), view)

    def read_snapshot(call: Call) -> Any:
        """PUT /__sim/state, before the lock: the body parsed, checked whole and built
        (every problem by its path), on a worker thread; nothing changes yet."""
        rebase = _flag(parse_query(call.request.scope["query_string"]), "rebase")
        return sandbox.read_snapshot(parse_json(call.raw_body), rebase)

    def replace_state(call: Call) -> Any:
        """The key's state becomes the checked snapshot's."""
        return sandbox.import_snapshot(call.tenant, call.prepared)

    return [
        Route("/__sim/state", pipeline.endpoint(state), methods=["GET"]),
        Route("/__sim/state", pipeline.endpoint(replace_state, upload=Upload(MAX_SNAPSHOT, read_snapshot)), methods=["PUT"]),
        Route("/__sim/reset", pipeline.endpoint(reset), methods=["POST"]),
        Route("/__sim/login-links", pipeline.endpoint(login_link), methods=["POST"]),
        Route("/__sim/sandbox", pipeline.endpoint(forget), methods=["DELETE"]),
        Route("/__sim/journal", pipeline.endpoint(journal), methods=["GET"]),
        Route("/__sim/report", pipeline.endpoint(report), methods=["GET"]),
        Route("/__sim/catalog", pipeline.endpoint(catalog), methods=["GET"]),
        Route("/__sim/catalog", pipeline.endpoint(catalog, json_body=True), methods=["PUT"]),
        Route("/__sim/settings", pipeline.endpoint(settings), methods=["GET"]),
        Route("/__sim/settings", pipeline.endpoint(settings, json_body=True), methods=["PUT"]),
        Route("/__sim/faults", pipeline.endpoint(faults), methods=["GET", "DELETE"]),
        Route("/__sim/faults", pipeline.endpoint(faults, json_body=True), methods=["PUT"]),
    ]
