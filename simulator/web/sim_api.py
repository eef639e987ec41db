"""The simulator's own surface under /__sim (CONTRACT section 7): set-up and inspection
for the caller's tenant. Not part of the vendor's API."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

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
        windows = call.tenant.refund_windows
        return {"refund_windows": {"plan_alone_days": windows.plan_alone_days,
                                   "with_product_months": windows.with_product_months}}

    return [
        Route("/__sim/reset", pipeline.endpoint(reset), methods=["POST"]),
        Route("/__sim/settings", pipeline.endpoint(settings), methods=["GET"]),
        Route("/__sim/settings", pipeline.endpoint(settings, json_body=True), methods=["PUT"]),
    ]
