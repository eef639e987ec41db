"""The simulator's own surface under /__sim (CONTRACT section 7): set-up and inspection
for the caller's tenant. Not part of the vendor's API."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from simulator.errors import invalid
from simulator.faults import FaultPlan, parse_rules
from simulator.orders import RefundWindows
from simulator.sandbox import Sandbox
from simulator.web.transport import Call, Pipeline, validated


def routes(pipeline: Pipeline, sandbox: Sandbox) -> list[BaseRoute]:
    def reset(call: Call) -> Any:
        call.tenant.clear()
        return {"reset": True}

    def settings(call: Call) -> Any:
        if call.request.method == "PUT":
            body = validated("sim-settings.json", call.body)
            call.tenant.refund_windows = RefundWindows(**body["refund_windows"])
            call.tenant.magic_values = body.get("magic_values", call.tenant.magic_values)
        windows = call.tenant.refund_windows
        return {"refund_windows": {"plan_alone_days": windows.plan_alone_days,
                                   "with_product_months": windows.with_product_months},
                "magic_values": call.tenant.magic_values}

    def faults(call: Call) -> Any:
        if call.request.method == "PUT":
            body = validated("sim-faults.json", call.body)
            idle = [f"faults[{i}] does nothing: give it a status or a latency_ms"
                    for i, rule in enumerate(body["faults"]) if "status" not in rule and not rule.get("latency_ms")]
            if idle:
                raise invalid(idle)
            call.tenant.faults = FaultPlan(parse_rules(body))
        elif call.request.method == "DELETE":
            call.tenant.faults = FaultPlan()
        return {"faults": [rule.as_body() for rule in call.tenant.faults.rules]}

    return [
        Route("/__sim/reset", pipeline.endpoint(reset), methods=["POST"]),
        Route("/__sim/settings", pipeline.endpoint(settings), methods=["GET"]),
        Route("/__sim/settings", pipeline.endpoint(settings, json_body=True), methods=["PUT"]),
        Route("/__sim/faults", pipeline.endpoint(faults), methods=["GET", "DELETE"]),
        Route("/__sim/faults", pipeline.endpoint(faults, json_body=True), methods=["PUT"]),
    ]
