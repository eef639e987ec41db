"""A typed client for the Hakuna API: `HakunaClient` (sync) and `AsyncHakunaClient`.

    client = HakunaClient("http://127.0.0.1:8765/sandbox", "sk_test_…")
    offer = client.look_up_plans(PlanQuery(product_id="prd-iphone14", …))

The base URL is the API's own (`https://…/sandbox` for the real sandbox); a bare host
gets `/sandbox` appended. Arguments fall back to `HAKUNA_BASE_URL` and `HAKUNA_API_KEY`.
Any httpx transport can carry it: a socket (default), `httpx.ASGITransport` in process
(async client), or `httpx.MockTransport`.

Failures raise one hierarchy:

    HakunaError
     ├── ApiError            the server answered an error body (status, error_code,
     │    │                  validation_errors, request_id)
     │    ├── BadRequest     400: invalid input or a refused business rule
     │    ├── Unauthorized   401
     │    ├── NotFound       404
     │    ├── RateLimited    429, still after every retry
     │    └── ServerError    5xx, still after every retry
     ├── TransportFailure    no answer (connection refused, timeout), after every retry
     └── ContractViolation   an answer that breaks the contract (not JSON, wrong fields)

Retries: 429 (honouring Retry-After), 5xx and transport failures are retried with
exponential backoff and full jitter. Every logical POST carries one generated
`Hakuna-Idempotency-Key` for all its attempts, so a retry never applies twice.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import ssl
import time
import uuid
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from contract_tests import models as m

T = TypeVar("T")
DEFAULT_VERSION = "v2.0"  # the current public version (v1.3 is partner-only)


class HakunaError(Exception):
    pass


class ApiError(HakunaError):
    def __init__(self, status: int, error_code: str, validation_errors: list[str], request_id: str | None):
        super().__init__(f"{status} {error_code}: {'; '.join(validation_errors)} (request {request_id})")
        self.status = status
        self.error_code = error_code
        self.validation_errors = validation_errors
        self.request_id = request_id


class BadRequest(ApiError):
    pass


class Unauthorized(ApiError):
    pass


class NotFound(ApiError):
    pass


class RateLimited(ApiError):
    pass


class ServerError(ApiError):
    pass


class TransportFailure(HakunaError):
    pass


class ContractViolation(HakunaError):
    def __init__(self, message: str, request_id: str | None = None):
        super().__init__(f"{message} (request {request_id})")
        self.request_id = request_id


_BY_STATUS: Mapping[int, type[ApiError]] = {400: BadRequest, 401: Unauthorized, 404: NotFound, 429: RateLimited}


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # in all, the first included
    base_delay: float = 0.05
    max_delay: float = 5.0

    def delay(self, attempt: int, retry_after: float | None, draw: Callable[[], float]) -> float:
        """Full jitter over an exponential ceiling; never sooner than Retry-After."""
        backoff = draw() * min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return max(backoff, retry_after or 0.0)


@dataclass(frozen=True)
class Sleep:
    seconds: float


Outcome = httpx.Response | httpx.TransportError
Exchange = Generator[httpx.Request | Sleep, Outcome | None, T]


@functools.cache
def shared_tls() -> ssl.SSLContext:
    """One TLS context for every client of the process: building one loads the CA
    bundle, which costs more than a whole contract test against a local server."""
    return httpx.create_ssl_context()


def api_base_url(url: str) -> str:
    """The API's base URL; a bare host (the simulator) gets /sandbox."""
    url = url.rstrip("/")
    return url if urlsplit(url).path not in ("", "/") else url + "/sandbox"


def root_url(base_url: str) -> str:
    """Where the simulator's own routes (/__sim, /openapi.json) live."""
    base = api_base_url(base_url)
    return base[: -len("/sandbox")] if base.endswith("/sandbox") else base


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class _Protocol:
    """Everything but the I/O: requests, retries, answers (shared by both clients)."""

    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        version: str | None,
        retry: RetryPolicy,
        validate_schemas: bool,
        rng: random.Random | None,
    ):
        base_url = base_url or os.environ.get("HAKUNA_BASE_URL")
        api_key = api_key or os.environ.get("HAKUNA_API_KEY")
        if not base_url or not api_key:
            raise ValueError("a base URL and an API key are needed (arguments, or HAKUNA_BASE_URL and HAKUNA_API_KEY)")
        self.base_url = api_base_url(base_url)
        self.api_key = api_key
        self.version = version
        self.retry = retry
        self.validate_schemas = validate_schemas
        self._rng = rng or random.Random()

    def headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}
        if self.version:
            headers["Hakuna-Version"] = self.version
        return headers

    def exchange(
        self,
        method: str,
        path: str,
        model: type[T],
        *,
        schema: str | None = None,
        body: BaseModel | None = None,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Exchange[T]:
        headers = self.headers()
        content = None
        if body is not None:
            content = body.model_dump_json(exclude_none=True).encode()
            headers["Content-Type"] = "application/json"
        if method == "POST":
            headers["Hakuna-Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        url = self.base_url + path
        attempt = 0
        while True:
            attempt += 1
            outcome = yield httpx.Request(method, url, headers=headers, content=content, params=params)
            assert outcome is not None
            retryable = isinstance(outcome, httpx.TransportError) or (outcome.status_code == 429 or outcome.status_code >= 500)
            if not retryable or attempt >= self.retry.attempts:
                return self.answer(outcome, model, schema)
            retry_after = _retry_after(outcome) if isinstance(outcome, httpx.Response) else None
            yield Sleep(self.retry.delay(attempt, retry_after, self._rng.random))

    def answer(self, outcome: Outcome, model: type[T], schema: str | None) -> T:
        if isinstance(outcome, httpx.TransportError):
            raise TransportFailure(f"no answer from {outcome.request.url}: {outcome!r}")
        request_id = outcome.headers.get("x-request-id")
        if self.validate_schemas:
            if not request_id:
                raise ContractViolation(f"{outcome.status_code} answer has no X-Request-Id header")
            sent = outcome.request.headers.get("hakuna-version")
            if sent and outcome.status_code != 401 and outcome.headers.get("hakuna-version") != sent:
                raise ContractViolation(
                    f"Hakuna-Version {sent} was not echoed (got {outcome.headers.get('hakuna-version')!r})", request_id
                )
        if outcome.headers.get("content-type", "").split(";")[0] != "application/json":
            raise ContractViolation(
                f"{outcome.status_code} answer is not application/json ({outcome.headers.get('content-type')!r})", request_id
            )
        try:
            data = outcome.json()
        except ValueError:
            raise ContractViolation(f"{outcome.status_code} answer is not JSON", request_id) from None
        if outcome.status_code != 200:
            self._check(data, m.ErrorBody, "error.json", request_id)
            error = data["error"]
            cls = _BY_STATUS.get(outcome.status_code, ServerError if outcome.status_code >= 500 else ApiError)
            raise cls(outcome.status_code, error["error_code"], error["validation_errors"], request_id)
        return self._check(data, model, schema, request_id)

    def _check(self, data: Any, model: type[T], schema: str | None, request_id: str | None) -> T:
        if self.validate_schemas and schema is not None:
            from contract_tests.schema_check import problems

            found = problems(schema, data)
            if found:
                raise ContractViolation(f"answer breaks schemas/{schema}: {'; '.join(found)}", request_id)
        try:
            checked: T = TypeAdapter(model).validate_python(data, context=m.WIRE)
            return checked
        except ValidationError as exc:
            raise ContractViolation(f"answer does not fit {getattr(model, '__name__', model)}: {exc}", request_id) from None


Event = m.OrderPlaced | m.OrderFulfillmentAdded | m.OrderRefundAdded | m.OrderCancelled


class _Requests:
    """The exchange of each endpoint of docs/contract.md §3, without I/O: both clients
    drive the same ones, one by blocking calls, the other awaited."""

    def __init__(self, protocol: _Protocol):
        self.protocol = protocol

    def look_up_plans(self, query: m.PlanQuery) -> Exchange[m.PlanOffer]:
        return self.protocol.exchange(
            "GET", "/plans", m.PlanOffer, schema="plans-response.json", params=query.model_dump(exclude_none=True)
        )

    def update_cart(self, cart: m.CartUpdate, idempotency_key: str | None) -> Exchange[m.CartActions]:
        return self.protocol.exchange(
            "POST", "/carts", m.CartActions, schema="cart-update-response.json", body=cart, idempotency_key=idempotency_key
        )

    def cart_connections(self, cart_id: str, user_session_id: str) -> Exchange[m.CartConnections]:
        return self.protocol.exchange(
            "GET",
            f"/carts/{_segment(cart_id)}/plan_connections",
            m.CartConnections,
            schema="cart-connections-response.json",
            params={"user_session_id": user_session_id},
        )

    def check_out(self, checkout: m.Checkout, idempotency_key: str | None) -> Exchange[m.Checkout]:
        return self.protocol.exchange(
            "POST", "/checkouts", m.Checkout, schema="checkout-response.json", body=checkout, idempotency_key=idempotency_key
        )

    def publish_event(self, event: Event, idempotency_key: str | None) -> Exchange[m.EventAccepted]:
        return self.protocol.exchange(
            "POST", "/events", m.EventAccepted, schema="event-response.json", body=event, idempotency_key=idempotency_key
        )

    def get_event(self, event_id: str) -> Exchange[m.EventRecord]:
        return self.protocol.exchange("GET", f"/events/{_segment(event_id)}", m.EventRecord, schema="event-record.json")

    def get_order(self, order_id: str) -> Exchange[m.Order]:
        return self.protocol.exchange("GET", f"/orders/{_segment(order_id)}", m.Order, schema="order.json")

    def order_connections(self, order_id: str) -> Exchange[m.OrderConnections]:
        return self.protocol.exchange(
            "GET", f"/orders/{_segment(order_id)}/plan_connections", m.OrderConnections, schema="order-connections-response.json"
        )


def _segment(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


class HakunaClient:
    """One method per endpoint, each answering its model (or raising a HakunaError)."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
        version: str | None = DEFAULT_VERSION,
        retry: RetryPolicy = RetryPolicy(),
        validate_schemas: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ):
        self._protocol = _Protocol(base_url, api_key, version, retry, validate_schemas, rng)
        self._requests = _Requests(self._protocol)
        self._http = httpx.Client(transport=transport, timeout=timeout, verify=shared_tls())
        self._sleep = sleep

    def look_up_plans(self, query: m.PlanQuery) -> m.PlanOffer:
        return self._run(self._requests.look_up_plans(query))

    def update_cart(self, cart: m.CartUpdate, *, idempotency_key: str | None = None) -> m.CartActions:
        return self._run(self._requests.update_cart(cart, idempotency_key))

    def cart_connections(self, cart_id: str, user_session_id: str) -> m.CartConnections:
        return self._run(self._requests.cart_connections(cart_id, user_session_id))

    def check_out(self, checkout: m.Checkout, *, idempotency_key: str | None = None) -> m.Checkout:
        return self._run(self._requests.check_out(checkout, idempotency_key))

    def publish_event(self, event: Event, *, idempotency_key: str | None = None) -> m.EventAccepted:
        return self._run(self._requests.publish_event(event, idempotency_key))

    def get_event(self, event_id: str) -> m.EventRecord:
        return self._run(self._requests.get_event(event_id))

    def get_order(self, order_id: str) -> m.Order:
        return self._run(self._requests.get_order(order_id))

    def order_connections(self, order_id: str) -> m.OrderConnections:
        return self._run(self._requests.order_connections(order_id))

    @property
    def base_url(self) -> str:
        return self._protocol.base_url

    @property
    def api_key(self) -> str:
        return self._protocol.api_key

    def _run(self, exchange: Exchange[T]) -> T:
        step = next(exchange)
        while True:
            try:
                if isinstance(step, Sleep):
                    self._sleep(step.seconds)
                    step = exchange.send(None)
                    continue
                try:
                    outcome: Outcome = self._http.send(step)
                except httpx.TransportError as exc:
                    outcome = exc
                step = exchange.send(outcome)
            except StopIteration as stop:
                result: T = stop.value
                return result

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HakunaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncHakunaClient:
    """The same endpoints, awaited: `await client.look_up_plans(query)`."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        version: str | None = DEFAULT_VERSION,
        retry: RetryPolicy = RetryPolicy(),
        validate_schemas: bool = False,
        rng: random.Random | None = None,
    ):
        self._protocol = _Protocol(base_url, api_key, version, retry, validate_schemas, rng)
        self._requests = _Requests(self._protocol)
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout, verify=shared_tls())

    @property
    def base_url(self) -> str:
        return self._protocol.base_url

    @property
    def api_key(self) -> str:
        return self._protocol.api_key

    async def look_up_plans(self, query: m.PlanQuery) -> m.PlanOffer:
        return await self._drive(self._requests.look_up_plans(query))

    async def update_cart(self, cart: m.CartUpdate, *, idempotency_key: str | None = None) -> m.CartActions:
        return await self._drive(self._requests.update_cart(cart, idempotency_key))

    async def cart_connections(self, cart_id: str, user_session_id: str) -> m.CartConnections:
        return await self._drive(self._requests.cart_connections(cart_id, user_session_id))

    async def check_out(self, checkout: m.Checkout, *, idempotency_key: str | None = None) -> m.Checkout:
        return await self._drive(self._requests.check_out(checkout, idempotency_key))

    async def publish_event(self, event: Event, *, idempotency_key: str | None = None) -> m.EventAccepted:
        return await self._drive(self._requests.publish_event(event, idempotency_key))

    async def get_event(self, event_id: str) -> m.EventRecord:
        return await self._drive(self._requests.get_event(event_id))

    async def get_order(self, order_id: str) -> m.Order:
        return await self._drive(self._requests.get_order(order_id))

    async def order_connections(self, order_id: str) -> m.OrderConnections:
        return await self._drive(self._requests.order_connections(order_id))

    async def _drive(self, exchange: Exchange[T]) -> T:
        step = next(exchange)
        while True:
            try:
                if isinstance(step, Sleep):
                    await asyncio.sleep(step.seconds)
                    step = exchange.send(None)
                    continue
                try:
                    outcome: Outcome = await self._http.send(step)
                except httpx.TransportError as exc:
                    outcome = exc
                step = exchange.send(outcome)
            except StopIteration as stop:
                result: T = stop.value
                return result

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncHakunaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
