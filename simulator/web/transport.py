"""What every vendor request goes through (docs/contract.md §1 and §2), in one place.

    API key (the tenant, and the request id) -> Hakuna-Version -> body (415, 413, JSON)
    -> rate limit and injected faults -> idempotency replay -> the operation (under
    the tenant's lock) -> journal -> render

Every refusal on the way renders as the vendor's error body. The guide's quirks (its
`Bearer:` header, its `/sandbox/orders` URL, no `Hakuna-Version`) are accepted and
noted on the call as deviations, or refused under `--strict`.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from simulator.contract import schemas
from simulator.domain.deviations import BEARER_HEADER, INTEGRAL_NUMBER, NO_VERSION
from simulator.domain.errors import SimError, invalid
from simulator.domain.faults import Fault
from simulator.domain.idempotency import check_key, fingerprint
from simulator.facade import Sandbox
from simulator.state.footprint import exact
from simulator.state.store import Pending
from simulator.state.tenants import TenantState
from simulator.web.connections import TIMED_OUT, head_too_large_answer
from simulator.web.metrics import Metrics
from simulator.web.upstream import Upstream
from simulator.web.workers import on_worker

MAX_BODY = 1024 * 1024
VERSIONS = ("v1.1", "v1.2", "v1.3", "v2.0")
_KEY = re.compile(r"sk_test_[A-Za-z0-9]{8,}")


@dataclass(slots=True)
class Call:
    """One authenticated request, as the operation sees it."""

    request: Request
    tenant: TenantState
    request_id: str
    version: str | None
    headers: dict[str, str]
    deviations: list[str] = field(default_factory=list)
    raw_body: bytes = b""
    body: Any = None
    nulls: frozenset[str] = frozenset()  # members sent as null (removed from `body`)
    strict: bool = False
    lenient: bool = False  # shadow mode: the real API accepted it, apply what can apply
    prepared: Any = None  # what an Upload's `prepare` made of the body

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
    """An operation's answer that takes long to compute from a snapshot: `work` runs on
    a worker thread, after the tenant's lock is released, so other keys keep being served."""

    work: Callable[[], Any]


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


def dumps(body: Any) -> bytes:
    # orjson: the same compact UTF-8 bytes as json.dumps, a twentieth of the time.
    return orjson.dumps(body)


class JsonResponse(Response):
    """A JSON response with its raw headers built directly: Starlette's general
    constructor costs more than the rest of a plan look-up's rendering."""

    media_type = "application/json"

    def __init__(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]]):
        """`headers` as they are sent: lower-case names and values, encoded (`encoded`)."""
        self.status_code = status
        self.background = None
        self.body = body
        self.raw_headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json"), *headers]


def encoded(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


def json_response(status: int, body: Any, headers: dict[str, str]) -> Response:
    return JsonResponse(status, dumps(body), encoded(headers))


def header_map(raw: list[tuple[bytes, bytes]]) -> tuple[dict[str, str], int]:
    """The request's headers by lower-case name, read once (the last of repeated ones),
    and what their names and values weigh (refused past MAX_REQUEST_HEADERS once the key
    is read, so that the refusal is journaled under it; the connection layer caps what a
    head may hold, so the dict is small)."""
    headers = {}
    size = 0
    for name, value in raw:
        size += len(name) + len(value)
        headers[name.decode("latin-1")] = value.decode("latin-1")
    return headers, size


def error_response(error: SimError, request_id: str, version: str | None = None) -> Response:
    headers = {"X-Request-Id": request_id, **error.headers}
    if version:
        headers["Hakuna-Version"] = version
    return json_response(error.status, error.body(), headers)


def api_key(headers: dict[str, str], strict: bool) -> tuple[str, list[str]]:
    """The caller's key and the quirks used to send it; 401 when there is no usable key."""
    deviations = []
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise SimError("unauthorized", 'the Authorization header must be "Bearer <your sk_test_ key>"')
        key = key.strip()
    elif "bearer" in headers:
        # The guide's curl lines send "Bearer: <key>"; the real API reads Authorization.
        if strict:
            raise SimError(
                "unauthorized",
                'send the key as "Authorization: Bearer <key>"; the real API does not read the guide\'s "Bearer:" header',
            )
        key = headers["bearer"].strip()
        deviations.append(BEARER_HEADER)
    else:
        raise SimError("unauthorized", 'no API key: send "Authorization: Bearer <your sk_test_ key>"')
    if key.startswith("sk_live_"):
        raise SimError("unauthorized", "live keys are refused here: use your sk_test_ key")
    if not _KEY.fullmatch(key):
        raise SimError("unauthorized", "malformed API key: a key is sk_test_ followed by at least 8 letters or digits")
    return key, deviations


def api_version(headers: dict[str, str], strict: bool) -> tuple[str | None, list[str]]:
    version = headers.get("hakuna-version")
    if version is None:
        if strict:
            raise invalid(["Hakuna-Version header is required: send one of " + ", ".join(VERSIONS)])
        # The real API falls back to its oldest version; the report says so.
        return None, [NO_VERSION]
    if version not in VERSIONS:
        raise invalid([f"Hakuna-Version must be one of {', '.join(VERSIONS)}, not {version!r}"])
    return version, []


async def read_json(request: Request, headers: dict[str, str]) -> tuple[bytes, schemas.Normalized]:
    check_json_type(headers)
    raw = await read_body(request)
    return raw, schemas.prepare_request(parse_json(raw), raw)


def check_json_type(headers: dict[str, str]) -> None:
    content_type = headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise SimError(
            "unsupported_media_type",
            f"request body must be JSON sent with Content-Type: application/json (got {content_type or 'no Content-Type'!r})",
        )


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The body's bytes, refused past `limit` (1 MiB) without reading the rest."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        timeout = request.scope.get(TIMED_OUT)
        if timeout is None:
            raise  # the client went away: nothing was answered, nothing changed
        raise SimError(
            "request_timeout",
            f"the request's body did not arrive within {timeout:g} s of its first byte ({size} bytes came), so the "
            "server closed the connection: send each request whole and at once",
        ) from None
    return b"".join(chunks)


def _too_large(limit: int = MAX_BODY) -> SimError:
    return SimError("payload_too_large", f"request body is over {limit} bytes ({limit // (1024 * 1024)} MiB)")


def parse_json(raw: bytes) -> Any:
    """The body as JSON; NaN, Infinity and invalid UTF-8 are refused like any malformed JSON."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if exc.msg.startswith("depth limit exceeded"):  # the parser's own bound, far past the API's
            raise invalid(
                [f"request body is nested more than {schemas.MAX_DEPTH} levels deep: no body of this API needs that"]
            ) from None
        raise invalid([f"request body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"]) from None


MAX_REQUEST_HEADERS = 16 * 1024  # bytes of header names and values


def headers_too_large(size: int) -> SimError:
    return SimError(
        "request_header_fields_too_large",
        f"the request headers weigh {size} bytes, over the {MAX_REQUEST_HEADERS} this server reads: "
        "send fewer or shorter headers",
    )


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
    def __init__(self, sandbox: Sandbox, upstream: Upstream | None = None, metrics: Metrics | None = None):
        from simulator.web.shadow import Shadow  # shadow mode builds on this pipeline

        self.metrics = metrics or Metrics()
        self.sandbox = sandbox
        self.strict = sandbox.config.strict
        self.shadow = Shadow(self, upstream) if upstream is not None else None

    def endpoint(self, operation: Operation, *, json_body: bool = False, upload: Upload | None = None) -> Endpoint:
        return Endpoint(self, operation, json_body, upload)

    async def run(self, request: Request, operation: Operation, json_body: bool, upload: Upload | None = None) -> Response:
        if self.shadow is not None and request.scope["path"].startswith("/sandbox"):
            return await self.shadow.run(request, operation, json_body)
        started = time.perf_counter()
        call: Call | None = None
        size_before = 0
        version = None
        replayed = False
        headers: dict[str, str] = {}
        try:
            headers, header_bytes = header_map(request.scope["headers"])
            key, deviations = api_key(headers, self.strict)
            tenant = self.sandbox.tenants.get(key)
            call = Call(request, tenant, tenant.ids.request_id(), None, headers, deviations)
            size_before = tenant.size()
            if header_bytes > MAX_REQUEST_HEADERS:
                raise headers_too_large(header_bytes)
            version, more = api_version(headers, self.strict)
            call.version = version
            deviations += more
            if json_body:  # before faults, so the journal holds the body of a failed request too
                call.raw_body, read = await read_json(request, headers)
                call.body, call.nulls, call.strict = read.document, read.nulls, self.strict
            elif upload is not None:
                check_json_type(headers)
                call.raw_body = await read_body(request, upload.limit)
                call.prepared = await on_worker(upload.prepare, call)
            fault = self.admit(call)
            if fault is not None:
                if fault.latency_ms:
                    await asyncio.sleep(fault.latency_ms / 1000)
                if fault.error is not None and not fault.after:
                    raise fault.error
            if not self.sandbox.tenants.holds(tenant):  # forgotten or evicted while this request awaited
                tenant = call.tenant = self.sandbox.tenants.get(key)
                size_before = tenant.size()
            # From here on nothing awaits: the tenant's state changes under its lock alone.
            with tenant.lock:
                status, body, replayed = self.execute(call, operation)
            if isinstance(body, Offload):  # long reads run on a worker thread, off the event loop
                body = await on_worker(body.work)
            if fault is not None and fault.error is not None:
                raise fault.error  # "after": applied, and the answer lost
            extra: dict[str, str] = {}
        except SimError as error:
            status, body, extra = error.status, error.body(), error.headers
        # A request that belongs to no tenant draws its id from the server's stream.
        request_id = call.request_id if call is not None else self.sandbox.ids.request_id()
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
                call.tenant.journal.record(
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
            self.sandbox.tenants.settle(call.tenant, size_before)
            pending = self.save(call.tenant)
            if pending is not None:  # a state file: the answer waits until the change is on disk
                failure = await self.durable(call.tenant, pending)
                if failure is not None:
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
        tenant = self.sandbox.tenants.get(key)
        size_before = tenant.size()
        request_id = tenant.ids.request_id()
        answer = head_too_large_answer(request_id)
        if path.startswith("/sandbox"):
            body = answer.partition(b"\r\n\r\n")[2]
            tenant.journal.record(
                request_id, time.time(), method, path, query.decode("latin-1"), headers, b"", 431, body, 0.0, deviations, False
            )
            self.sandbox.tenants.settle(tenant, size_before)
            await self.persist(tenant)
        return answer

    async def persist(self, tenant: TenantState) -> SimError | None:
        """Hand what the request changed to the store, and wait until it is durable:
        an answered request is a saved one (simulator/store.py)."""
        pending = self.save(tenant)
        return None if pending is None else await self.durable(tenant, pending)

    def save(self, tenant: TenantState) -> Pending | None:
        """Hand what the request changed to the store; what to wait for, if anything."""
        tenants = self.sandbox.tenants
        if tenants.holds(tenant):
            with tenant.lock:
                return tenants.store.save(tenant)
        return tenants.store.flush()  # forgotten meanwhile: its removal is what must be durable

    async def durable(self, tenant: TenantState, pending: Pending) -> SimError | None:
        try:
            await self.sandbox.tenants.store.durable(pending)
        except Exception as exc:  # noqa: BLE001 - the disk, not the request, failed
            with tenant.lock:
                tenant.changes.everything = True  # the next save writes the whole key again
            return SimError(
                "service_unavailable",
                f"the request was applied in memory, but the state file could not be written ({exc}); "
                "this key is written whole again with its next request: free the disk, then repeat the request",
            )
        return None

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
