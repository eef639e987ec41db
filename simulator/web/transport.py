"""What every vendor request goes through (docs/contract.md §1 and §2), in one place.

    API key (the tenant, and the request id) -> Hakuna-Version -> body (415, 413, JSON)
    -> rate limit and injected faults -> idempotency replay -> the operation (under
    the tenant's lock) -> journal -> render, once what it changed is durable

Every refusal on the way renders as the vendor's error body. The guide's quirks (its
`Bearer:` header, its `/sandbox/orders` URL, no `Hakuna-Version`) are accepted and
noted on the call as deviations, or refused under `--strict`. The request's unit of
work (the tenant, applying, the journal, saving) is the facade's `Transaction`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from simulator.contract import schemas
from simulator.domain.deviations import INTEGRAL_NUMBER
from simulator.domain.errors import Refusals, Rules, SimError, invalid
from simulator.domain.faults import Fault
from simulator.domain.idempotency import check_key, fingerprint
from simulator.facade import Sandbox, Transaction
from simulator.state.footprint import exact
from simulator.state.tenant import TenantState, TenantView
from simulator.web.connections import head_too_large_answer
from simulator.web.metrics import Metrics
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
    read_body,
    read_json,
)
from simulator.web.workers import Workers


@dataclass(slots=True)
class Call:
    """One authenticated request, as the operation sees it."""

    request: Request
    tx: Transaction
    headers: dict[str, str]
    deviations: list[str] = field(default_factory=list)
    version: str | None = None
    raw_body: bytes = b""
    body: Any = None
    nulls: frozenset[str] = frozenset()  # members sent as null (removed from `body`)
    strict: bool = False
    rules: Rules = Refusals  # how the operation's refusals are kept (shadow mode tolerates them)
    prepared: Any = None  # what an Upload's `prepare` made of the body

    @property
    def tenant(self) -> TenantState:
        return self.tx.tenant

    @property
    def request_id(self) -> str:
        return self.tx.request_id

    def validated(self, schema: str) -> Any:
        """The body, checked against `schema` (a refusal names every problem)."""
        problems, integral = schemas.validate_request(schema, self.body, nulls=self.nulls, raw=self.raw_body)
        self.integral_numbers(integral)
        if problems:
            raise invalid(problems)
        return self.body

    def integral_numbers(self, paths: list[str]) -> None:
        """Integers written with a fraction were read as integers: noted for the report,
        refused under --strict."""
        if not paths:
            return
        if self.strict:
            raise invalid([f"{path} must be an integer written without a fraction (--strict)" for path in paths])
        if INTEGRAL_NUMBER not in self.deviations:
            self.deviations.append(INTEGRAL_NUMBER)


Operation = Callable[[Call], Any]


@dataclass(frozen=True)
class Offload:
    """An operation's answer that takes long to compute from a copy of the tenant: `work`
    runs on a worker thread, after the tenant's lock is released, so other keys keep
    being served. Given a `view`, `work` takes it, its journal completed first from a
    durable store."""

    work: Callable[..., Any]
    view: TenantView | None = None


@dataclass(frozen=True)
class Upload:
    """A large body the operation takes whole (a snapshot): read up to `limit` bytes,
    then handed to `prepare` on a worker thread, before the tenant's lock is taken, so
    that parsing and checking it stall no other request. `prepare` changes no state;
    its result is `call.prepared`."""

    limit: int
    prepare: Callable[[Call], Any]


@dataclass(frozen=True)
class Raw:
    """An answer already encoded (a replayed one)."""

    data: bytes


class Forwarding(Protocol):
    """Shadow mode (web/shadow.py): runs a vendor request against the upstream too."""

    def run(self, request: Request, operation: Operation, json_body: bool) -> Awaitable[Response]: ...


class Endpoint:
    """A route's endpoint as an ASGI app. Starlette calls such an endpoint directly,
    without the per-request wrapper it builds around plain functions (which costs about
    a tenth of a plan look-up); unexpected exceptions still reach the app's handlers."""

    __slots__ = ("pipeline", "operation", "json_body", "upload")

    def __init__(self, pipeline: Pipeline, operation: Operation, json_body: bool, upload: Upload | None = None):
        self.pipeline = pipeline
        self.operation = operation
        self.json_body = json_body
        self.upload = upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        try:
            response = await self.pipeline.run(Request(scope, receive), self.operation, self.json_body, self.upload)
        except ClientDisconnect:
            return  # gone before its body arrived: nothing was answered, nothing changed
        if type(response) is JsonResponse:  # what Response.__call__ sends, without its layer
            await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
            await send({"type": "http.response.body", "body": response.body})
        else:
            await response(scope, receive, send)
        self.pipeline.metrics.observe(scope, response.status_code, time.perf_counter() - started)


class Pipeline:
    def __init__(self, sandbox: Sandbox, metrics: Metrics | None = None):
        config = sandbox.config
        self.metrics = metrics = metrics or Metrics()
        self.sandbox = sandbox
        self.strict = config.strict
        # The one queue of worker-thread work, the dashboard's pages included.
        self.workers = Workers(config.own_collector, config.background_share, lambda: metrics.answered)
        self.forwarding: Forwarding | None = None  # shadow mode, when serving in front of an upstream

    def endpoint(self, operation: Operation, *, json_body: bool = False, upload: Upload | None = None) -> Endpoint:
        return Endpoint(self, operation, json_body, upload)

    async def run(self, request: Request, operation: Operation, json_body: bool, upload: Upload | None = None) -> Response:
        if self.forwarding is not None and request.scope["path"].startswith("/sandbox"):
            return await self.forwarding.run(request, operation, json_body)
        started = time.perf_counter()
        call: Call | None = None
        replayed = False
        headers: dict[str, str] = {}
        try:
            headers, header_bytes = header_map(request.scope["headers"])
            key, deviations = api_key(headers, self.strict)
            call = Call(request, await self.sandbox.begin(key), headers, deviations, strict=self.strict)
            if header_bytes > MAX_REQUEST_HEADERS:
                raise headers_too_large(header_bytes)
            call.version, more = api_version(headers, self.strict)
            deviations += more
            if json_body:  # before faults, so the journal holds the body of a failed request too
                call.raw_body, read = await read_json(request, headers)
                call.body, call.nulls = read.document, read.nulls
            elif upload is not None:
                check_json_type(headers)
                call.raw_body = await read_body(request, upload.limit)
                call.prepared = await self.workers.run(upload.prepare, call)
            fault = self.admit(call)
            if fault is not None:
                if fault.latency_ms:
                    await asyncio.sleep(fault.latency_ms / 1000)
                if fault.error is not None and not fault.after:
                    raise fault.error
            await call.tx.reopen()
            # The operation runs under the tenant's lock without awaiting; `run` repeats it
            # after reading, off the event loop, any item it needs that is only on disk.
            done = call
            status, body, replayed = await call.tx.run(lambda _: self.execute(done, operation))
            if isinstance(body, Offload):  # long reads run on a worker thread, off the event loop
                if body.view is not None:
                    body = await self.workers.run_on(self.sandbox.complete(call.tenant.key, body.view), body.work)
                else:
                    body = await self.workers.run(body.work)
            if fault is not None and fault.error is not None:
                raise fault.error  # "after": applied, and the answer lost
            extra: dict[str, str] = {}
        except SimError as error:
            status, body, extra = error.status, error.body(), error.headers
        # A request that belongs to no tenant draws its id from the server's stream.
        request_id = call.request_id if call is not None else self.sandbox.ids.request_id()
        version = call.version if call is not None else None
        raw_headers = [(b"x-request-id", request_id.encode()), *encoded(extra)]
        if version:
            raw_headers.append((b"hakuna-version", version.encode()))
        if replayed:
            raw_headers.append((b"idempotent-replayed", b"true"))
        if isinstance(body, Response):  # an operation that renders its own answer (XML, HTML)
            body.headers.update({k.decode("latin-1"): v.decode("latin-1") for k, v in raw_headers})
            return body
        answer = body.data if isinstance(body, Raw) else dumps(body)
        if call is not None:
            if request.scope["path"].startswith("/sandbox"):
                call.tx.record(
                    request_id,
                    time.time(),
                    request.method,
                    request.scope["path"],
                    request.scope["query_string"].decode("latin-1"),
                    headers,
                    call.raw_body,
                    status,
                    answer,
                    (time.perf_counter() - started) * 1000,
                    call.deviations,
                    replayed,
                )
            try:  # with a state file, the answer waits until the change is on disk
                await call.tx.commit()
            except SimError as failure:
                return error_response(failure, request_id, version)
        return JsonResponse(status, answer, raw_headers)

    async def refuse_head(self, method: str, path: str, query: bytes, raw_headers: list[tuple[bytes, bytes]]) -> bytes:
        """A request whose head the connection layer stopped reading (past its byte
        limit): the whole 431 answer to send, journaled under the key the head named."""
        headers, _ = header_map(raw_headers)
        try:
            key, deviations = api_key(headers, self.strict)
        except SimError:
            return head_too_large_answer(self.sandbox.ids.request_id())
        tx = await self.sandbox.begin(key)
        answer = head_too_large_answer(tx.request_id)
        if path.startswith("/sandbox"):
            body = answer.partition(b"\r\n\r\n")[2]
            tx.record(
                tx.request_id, time.time(), method, path, query.decode("latin-1"), headers, b"", 431, body, 0.0, deviations, False
            )
            try:
                await tx.commit()
            except SimError:
                pass  # the answer stands: it was never going to change anything
        return answer

    def admit(self, call: Call) -> Fault | None:
        """Rate limit and injected faults, on vendor routes only: the fault for this
        request, if a rule fires."""
        path = call.request.scope["path"]
        if not path.startswith("/sandbox"):
            return None
        tenant = call.tenant
        if tenant.rate_limit is not None:
            tenant.rate_limit.take(time.monotonic())
        if not tenant.faults.rules:
            return None
        return tenant.faults.decide(call.request.method, path)

    def execute(self, call: Call, operation: Operation) -> tuple[int, Any, bool]:
        # Idempotency keys are the vendor's (docs): /__sim routes, such as a reset, always act.
        vendor_post = call.request.method == "POST" and call.request.scope["path"].startswith("/sandbox")
        key = call.headers.get("hakuna-idempotency-key") if vendor_post else None
        if key is None:
            return 200, operation(call), False
        check_key(key)
        now = self.sandbox.clock()
        print_ = fingerprint(call.request.method, call.request.scope["path"], call.raw_body)
        remembered = call.tenant.idempotency.replay(key, print_, now)
        if remembered is not None:
            return remembered.status, Raw(remembered.answer), True
        answer = exact(dumps(operation(call)))  # kept for 24 hours
        call.tenant.idempotency.remember(key, print_, 200, answer, now)
        return 200, Raw(answer), False
