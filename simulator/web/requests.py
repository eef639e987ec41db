"""Reading a request and writing an answer as the vendor's API does (docs/contract.md
§1 and §2): the headers, the key and the version, the JSON body, and the one error body.
The pipeline (transport.py), shadow mode and the dashboard's login read requests with it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from simulator.contract import schemas
from simulator.domain.deviations import BEARER_HEADER, NO_VERSION
from simulator.domain.errors import SimError, invalid
from simulator.web.connections import TIMED_OUT

MAX_BODY = 1024 * 1024
VERSIONS = ("v1.1", "v1.2", "v1.3", "v2.0")
_KEY = re.compile(r"sk_test_[A-Za-z0-9]{8,}")


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
