"""Shadow mode (`serve --upstream URL`): the simulator in front of the real sandbox.

Every vendor request is forwarded unchanged to the upstream, whose answer the merchant
gets as it came; meanwhile the simulator computes its own answer on this key's shadow
state, and the report's parity section keeps where the two differ (docs/fidelity.md,
"Shadow mode"). The shadow state follows the upstream, so one difference does not
cascade into many. Shadow mode's own state (the differences kept, the upstream's event
ids) is the tenant's `ShadowState`; its requests run in the facade's unit of work, as
every request does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping

import orjson
from starlette.requests import Request
from starlette.responses import Response

from simulator.contract import schemas
from simulator.domain.errors import SimError, Tolerated
from simulator.domain.faults import Fault
from simulator.report.parity import Answer, differences, fidelity_rule
from simulator.state.tenant import ShadowState, TenantState
from simulator.web.requests import (
    MAX_REQUEST_HEADERS,
    JsonResponse,
    api_key,
    api_version,
    check_json_type,
    dumps,
    encoded,
    error_response,
    header_map,
    headers_too_large,
    parse_json,
    read_body,
)
from simulator.web.transport import Call, Operation, Pipeline, Raw
from simulator.web.upstream import Upstream, UpstreamAnswer, UpstreamUnavailable


def record_parity(
    shadow: ShadowState, request_id: str, method: str, path: str, simulator: Answer, upstream: Answer, failure: str | None
) -> None:
    """Keep where the simulator's answer differs from the upstream's."""
    found = [failure] if failure else differences(simulator, upstream)
    if found:
        shadow.parity.append(
            {
                "request_id": request_id,
                "method": method,
                "path": path,
                "differences": found,
                "fidelity": fidelity_rule(method, path, simulator, upstream),
                "simulator": simulator.shown(),
                "upstream": upstream.shown(),
            }
        )


def alias_event(tenant: TenantState, shadow: ShadowState, upstream_answer: bytes, our_answer: bytes) -> None:
    """Both sides accepted an event, each under an id of its own."""
    if b'"event_id"' not in upstream_answer or b'"event_id"' not in our_answer:
        return
    try:
        theirs, ours = orjson.loads(upstream_answer).get("event_id"), orjson.loads(our_answer).get("event_id")
    except (orjson.JSONDecodeError, AttributeError):
        return
    if isinstance(theirs, str) and isinstance(ours, str) and len(shadow.event_aliases) < len(tenant.events) + 1:
        shadow.event_aliases[theirs] = ours


class Shadow:
    def __init__(self, pipeline: Pipeline, upstream: Upstream):
        self.pipeline = pipeline
        self.upstream = upstream

    async def run(self, request: Request, operation: Operation, json_body: bool) -> Response:
        """Forward the request unchanged, answer the upstream's answer as it came, and
        meanwhile compute the simulator's own on this key's shadow state, which follows
        the upstream's (docs/fidelity.md, "Shadow mode"). Injected faults act here, in
        front of the upstream, as a failing network would."""
        started = time.perf_counter()
        upstream = self.upstream
        scope = request.scope
        call: Call | None = None
        fault: Fault | None = None
        headers, header_bytes = header_map(scope["headers"])
        try:
            key, deviations = api_key(headers, self.pipeline.strict)
        except SimError:
            pass  # no key the simulator reads: the upstream alone answers
        else:
            call = Call(request, await self.pipeline.sandbox.begin(key), headers, deviations)
        try:
            if header_bytes > MAX_REQUEST_HEADERS:
                raise headers_too_large(header_bytes)
            raw = await read_body(request) if request.method in ("POST", "PUT") else b""
        except SimError as error:  # over 1 MiB, or headers over 16 KiB: not forwarded
            if call is None:
                return error_response(error, self.pipeline.sandbox.ids.request_id())
            return await self._done(call, started, Answer(error.status, dumps(error.body())), error.headers)
        if call is not None:
            call.raw_body = raw
            try:
                fault = self.pipeline.admit(call)
            except SimError as error:  # the rate limit
                return await self._done(call, started, Answer(error.status, dumps(error.body())), error.headers)
        if fault is not None:
            if fault.latency_ms:
                await asyncio.sleep(fault.latency_ms / 1000)
            if fault.error is not None and not fault.after and call is not None:
                return await self._done(call, started, Answer(fault.error.status, dumps(fault.error.body())), fault.error.headers)
        try:
            came: UpstreamAnswer | None = await upstream.send(
                request.method, scope["path"], scope["query_string"], scope["headers"], raw
            )
        except UpstreamUnavailable:
            came = None
        if call is not None:
            await call.tx.reopen()
        shadow = call.tenant.shadow if call is not None else None
        if call is not None and shadow is not None and "event_id" in scope.get("path_params", {}):
            # The merchant asks by the upstream's event id; this key's shadow knows its own.
            event_id = scope["path_params"]["event_id"]
            scope["path_params"] = {**scope["path_params"], "event_id": shadow.event_aliases.get(event_id, event_id)}
        simulated = self._simulate(call, operation, json_body, came) if call is not None else None
        if (
            simulated is not None
            and came is not None
            and came.status == simulated.status == 200
            and request.method == "POST"
            and call is not None
            and shadow is not None
        ):
            call.tx.apply(lambda tenant: alias_event(tenant, shadow, came.body, simulated.body))
        if fault is not None and fault.error is not None and call is not None:  # "after": applied, answer lost
            return await self._done(call, started, Answer(fault.error.status, dumps(fault.error.body())), fault.error.headers)
        if came is None:
            failure = SimError(
                "upstream_unavailable",
                f"the upstream {upstream.base_url} did not answer within {upstream.timeout:g} s "
                "(shadow mode): nothing is known to have happened there; send the request again",
            )
            request_id = call.request_id if call is not None else self.pipeline.sandbox.ids.request_id()
            answer = Answer(failure.status, dumps(failure.body()))
            response: Response = JsonResponse(answer.status, answer.body, encoded({"X-Request-Id": request_id}))
            note: str | None = f"the upstream did not answer within {upstream.timeout:g} s; the merchant got 502"
        else:
            answer, note = Answer(came.status, came.body), None
            response = Response(came.body, came.status)
            response.raw_headers = [*came.headers, (b"content-length", str(len(came.body)).encode())]
        if call is not None:
            await self._done(call, started, answer, {}, simulated, note)
        return response

    async def _done(
        self,
        call: Call,
        started: float,
        answer: Answer,
        headers: Mapping[str, str],
        simulated: Answer | None = None,
        note: str | None = None,
    ) -> Response:
        """Journal a shadow request with the answer the merchant got; keep a difference."""
        tx, scope = call.tx, call.request.scope
        tx.record(
            call.request_id,
            time.time(),
            call.request.method,
            scope["path"],
            scope["query_string"].decode("latin-1"),
            call.headers,
            call.raw_body,
            answer.status,
            answer.body,
            (time.perf_counter() - started) * 1000,
            call.deviations,
            False,
        )
        shadow = call.tenant.shadow
        if simulated is not None and shadow is not None:
            tx.apply(
                lambda _: record_parity(shadow, call.request_id, call.request.method, scope["path"], simulated, answer, note)
            )
        try:
            await tx.commit()
        except SimError as failure:
            return error_response(failure, call.request_id)
        return JsonResponse(answer.status, answer.body, encoded({"X-Request-Id": call.request_id, **headers}))

    def _simulate(self, call: Call, operation: Operation, json_body: bool, came: UpstreamAnswer | None) -> Answer:
        """The simulator's answer to a forwarded request. Its state then follows the
        upstream: a request the upstream refused (or left unanswered) is undone here, and
        one it accepted that the simulator refuses is applied leniently, as far as it can."""
        accepted_upstream = came is not None and 200 <= came.status < 300
        try:
            call.version, more = api_version(call.headers, self.pipeline.strict)
            call.deviations += more
            if json_body:
                check_json_type(call.headers)
                read = schemas.prepare_request(parse_json(call.raw_body), call.raw_body)
                call.body, call.nulls = read.document, read.nulls
            return call.tx.apply(lambda tenant: self._simulated(call, operation, tenant, accepted_upstream))
        except SimError as error:
            return Answer(error.status, dumps(error.body()))

    def _simulated(self, call: Call, operation: Operation, tenant: TenantState, accepted_upstream: bool) -> Answer:
        saved = tenant.checkpoint()
        remembered = len(tenant.idempotency)
        try:
            status, body, _ = self.pipeline.execute(call, operation)
            ours = Answer(status, body.data if isinstance(body, Raw) else dumps(body))
        except SimError as error:
            ours = Answer(error.status, dumps(error.body()))
            if accepted_upstream and error.code != "invalid_request_parameters":
                call.rules = Tolerated  # the real API took it: apply what can apply
                with contextlib.suppress(SimError):  # what cannot apply even so is reported
                    self.pipeline.execute(call, operation)
        if ours.status == 200 and not accepted_upstream and call.request.method != "GET":
            tenant.restore(saved)
            key_sent = call.headers.get("hakuna-idempotency-key")
            if key_sent and len(tenant.idempotency) > remembered:
                tenant.idempotency.forget(key_sent)
        return ours
