"""The dashboard at /__sim/: server-rendered HTML (Jinja2 templates in web/templates,
every value escaped), no script, no front-end build step.

Enter a key once (it is kept in a cookie); then one page shows that key's conformance
report, carts (lines, connections, last actions), orders (line quantities, protection
statuses) and the newest requests, and each request has a page with its bodies. Every
finding links to the requests it rests on.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from simulator.contract.queries import parse_query
from simulator.domain import carts
from simulator.domain.carts import Cart
from simulator.domain.errors import SimError
from simulator.facade import Sandbox
from simulator.report import document, readiness
from simulator.state.journal import Record
from simulator.state.tenant import TenantView
from simulator.web.requests import api_key, read_body
from simulator.web.workers import Workers

COOKIE = "hakuna_sim_key"
SHOWN_REQUESTS = 200

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
header{background:#14324a;color:#fff;padding:12px 24px;display:flex;gap:24px;align-items:center}
header h1{font-size:18px;margin:0}header a{color:#cfe3f5}main{padding:16px 24px;max-width:1200px}
section{background:#fff;border:1px solid #dde2e8;border-radius:6px;padding:12px 16px;margin:0 0 16px}
h2{font-size:16px;margin:4px 0 10px}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eef1f4;vertical-align:top}
th{font-weight:600;color:#52606d}code,pre{font:12px/1.4 ui-monospace,monospace}
pre{background:#f3f5f7;padding:8px;overflow:auto;max-height:420px}
.error{color:#b3261e;font-weight:600}.warning{color:#9a6700;font-weight:600}.ok{color:#1a7f37}
.s2{color:#1a7f37}.s4,.s5{color:#b3261e}.muted{color:#7b8794}form{display:flex;gap:8px}
input{padding:6px;min-width:340px}button{padding:6px 12px}
"""


# The pages run no script and load nothing; their one inline style is allowed by its
# hash, and no other site may frame them (clickjacking) or post to them.
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _secured(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    async def page(request: Request) -> Response:
        response = await handler(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    return page


def same_origin(request: Request) -> bool:
    """Whether a form post comes from the dashboard's own pages: a browser names the
    page's origin in `Origin` (or at least says `Sec-Fetch-Site`); another site's page
    must not log a visitor in with a key of its choosing, nor out."""
    origin = request.headers.get("origin")
    if origin is None:
        return request.headers.get("sec-fetch-site") in (None, "same-origin", "none")
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == request.headers.get("host")


def _cross_site() -> HTMLResponse:
    response = _key_form("That form was sent from another site's page, so it was ignored: enter your key here.")
    response.status_code = 403
    return response


TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("simulator.web", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
)
TEMPLATES.filters["tojson_pretty"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False)


def _page(template: str, title: str, key: str | None = None, **values: Any) -> HTMLResponse:
    return HTMLResponse(TEMPLATES.get_template(template).render(title=title, key=key, style=STYLE, **values))


def _key_form(message: str = "") -> HTMLResponse:
    return _page("key_form.html", "Enter your key", message=message)


class LoginLinks:
    """One-time login links: a token stands for a key for ten minutes, once."""

    KEPT = 1000
    VALID_FOR = 600.0

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}

    def create(self, key: str) -> str:
        now = time.monotonic()
        self._tokens = {t: (k, at) for t, (k, at) in self._tokens.items() if now - at < self.VALID_FOR}
        while len(self._tokens) >= self.KEPT:
            del self._tokens[next(iter(self._tokens))]
        token = secrets.token_urlsafe(24)
        self._tokens[token] = (key, now)
        return token

    def spend(self, token: str) -> str | None:
        found = self._tokens.pop(token, None)
        if found is None or time.monotonic() - found[1] >= self.VALID_FOR:
            return None
        return found[0]


class Dashboard:
    def __init__(self, sandbox: Sandbox, links: LoginLinks, workers: Workers):
        self.sandbox = sandbox
        self.links = links
        self.workers = workers

    def _key(self, request: Request) -> str | None:
        key = request.cookies.get(COOKIE)
        if not key:
            return None
        try:
            api_key({"authorization": f"Bearer {key}"}, strict=False)
        except SimError:
            return None
        return key

    async def login(self, request: Request) -> Response:
        if not same_origin(request):
            return _cross_site()
        try:
            key = parse_query(await read_body(request)).get("key", "").strip()
            api_key({"authorization": f"Bearer {key}"}, strict=False)
        except SimError as error:
            return _key_form(error.messages[0])
        response = RedirectResponse("/__sim/", status_code=303)
        response.set_cookie(COOKIE, key, httponly=True, samesite="strict")
        return response

    async def login_link(self, request: Request) -> Response:
        """A one-time link (`hakuna-sim dashboard`) logs its key in, then is spent."""
        key = self.links.spend(request.path_params["token"])
        if key is None:
            return _key_form(
                "That login link was used already or has expired: ask for a new one "
                "(hakuna-sim dashboard --api-key …) or enter the key."
            )
        response = RedirectResponse("/__sim/", status_code=303)
        response.set_cookie(COOKIE, key, httponly=True, samesite="strict")
        return response

    async def logout(self, request: Request) -> Response:
        if not same_origin(request):
            return _cross_site()
        response = RedirectResponse("/__sim/", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    async def overview(self, request: Request) -> Response:
        key = self._key(request)
        if key is None:
            return _key_form()
        integration = request.query_params.get("integration")
        if integration not in readiness.INTEGRATIONS:
            integration = readiness.DEFAULT_INTEGRATION
        # Off the event loop: the page reads a snapshot, and other keys keep being served.
        return await self.workers.run_on(self.sandbox.view(key), self._overview, key, integration)

    def _overview(self, t: TenantView, key: str, integration: str) -> HTMLResponse:
        records = [Record(e) for e in t.entries[-SHOWN_REQUESTS:]]
        return _page(
            "overview.html",
            "Sandbox",
            key,
            report=document.report(t, integration),
            other_integration=next(i for i in readiness.INTEGRATIONS if i != integration),
            carts=[_cart(c) for c in t.carts.values()],
            orders=[o.as_body() for o in t.orders.values()],
            requests=list(reversed(records)),
            requests_total=t.dropped + len(t.entries),
        )

    async def request_page(self, request: Request) -> Response:
        key = self._key(request)
        if key is None:
            return _key_form()
        return await self.workers.run_on(self.sandbox.view(key), _request_page, key, request.path_params["request_id"])


def _request_page(snapshot: TenantView, key: str, wanted: str) -> HTMLResponse:
    entry = next((e for e in reversed(snapshot.entries) if e.request_id == wanted), None)
    if entry is None:
        return _page("message.html", "Not found", key, message="No such request in this key's journal.")
    view = Record(entry).as_body()
    report = document.report(snapshot)
    citing = [(n, f) for n, f in enumerate(report["findings"], 1) if view["request_id"] in f["request_ids"]]
    return _page("request.html", view["request_id"], key, view=view, citing=citing)


def _cart(cart: Cart) -> dict[str, Any]:
    """A cart as its page shows it: each line with what it protects, and the last
    actions with why (a removal's reason, an update's quantity)."""
    connected = {c.plan_line_item_id: c.product_line_item_id for c in cart.reconciliation.connections}
    reasons = cart.reconciliation.removal_reasons
    actions = []
    for a in cart.reconciliation.actions:
        line_id = a["payload"]["line_item_id"]
        if line_id in reasons:
            actions.append(f"{a['type']} {line_id} ({carts.REASON_TEXT[reasons[line_id]]})")
        elif "line_item_quantity" in a["payload"]:
            actions.append(f"{a['type']} {line_id} to {a['payload']['line_item_quantity']}")
        else:
            actions.append(f"{a['type']} {line_id}")
    return {
        "cart_id": cart.cart_id,
        "session": cart.user_session_id,
        "currency": cart.currency,
        "order_id": cart.order_id,
        "lines": [
            {
                "id": l.id,
                "product_id": l.product_id,
                "quantity": l.quantity,
                "price_amount": l.price_amount,
                "protects": connected.get(l.id, l.product_reference or ""),
            }
            for l in cart.lines
        ],
        "actions": actions,
    }


def routes(sandbox: Sandbox, links: LoginLinks, workers: Workers) -> list[BaseRoute]:
    board = Dashboard(sandbox, links, workers)
    return [
        Route("/__sim/", _secured(board.overview), methods=["GET"]),
        Route("/__sim/login", _secured(board.login), methods=["POST"]),
        Route("/__sim/login/{token}", _secured(board.login_link), methods=["GET"]),
        Route("/__sim/logout", _secured(board.logout), methods=["POST"]),
        Route("/__sim/requests/{request_id}", _secured(board.request_page), methods=["GET"]),
    ]
