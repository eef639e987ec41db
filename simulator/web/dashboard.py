"""The dashboard at /__sim/: server-rendered HTML, no front-end build step.

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
from html import escape
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from simulator.contract.queries import parse_query
from simulator.domain import carts
from simulator.domain.errors import SimError
from simulator.facade import Sandbox
from simulator.report import document, readiness
from simulator.state.journal import Record
from simulator.state.tenant import TenantView
from simulator.web.requests import api_key, read_body
from simulator.web.workers import on_worker

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


def _page(title: str, body: str, key: str | None = None) -> HTMLResponse:
    who = (
        (
            f'<span class="muted">key …{escape(key[-4:])}</span>'
            '<form method="post" action="/__sim/logout"><button>Change key</button></form>'
        )
        if key
        else ""
    )
    return HTMLResponse(
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)} · hakuna-sim</title>"
        f"<style>{STYLE}</style></head><body><header><h1><a href='/__sim/'>hakuna-sim</a></h1>{who}</header>"
        f"<main>{body}</main></body></html>"
    )


def _json(value: Any) -> str:
    return f"<pre>{escape(json.dumps(value, indent=2, ensure_ascii=False))}</pre>"


def _request_link(request_id: str) -> str:
    return f"<a href='/__sim/requests/{escape(request_id)}'><code>{escape(request_id)}</code></a>"


def _key_form(message: str = "") -> HTMLResponse:
    note = f"<p class=error>{escape(message)}</p>" if message else ""
    return _page(
        "Enter your key",
        f"""<section><h2>Which sandbox?</h2>{note}
<p>Enter the API key your integration uses; each key is its own sandbox.</p>
<form method="post" action="/__sim/login"><input name="key" placeholder="sk_test_…" autofocus>
<button type="submit">Show</button></form></section>""",
    )


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
    def __init__(self, sandbox: Sandbox, links: LoginLinks):
        self.sandbox = sandbox
        self.links = links

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
        view = await self.sandbox.view(key)
        integration = request.query_params.get("integration")
        if integration not in readiness.INTEGRATIONS:
            integration = readiness.DEFAULT_INTEGRATION
        # Off the event loop: the page reads a snapshot, and other keys keep being served.
        body = await on_worker(
            lambda: self._report(view, integration) + self._carts(view) + self._orders(view) + self._journal(view)
        )
        return _page("Sandbox", body, key)

    async def request_page(self, request: Request) -> Response:
        key = self._key(request)
        if key is None:
            return _key_form()
        snapshot = await self.sandbox.view(key)
        wanted = request.path_params["request_id"]
        entry = next((e for e in reversed(snapshot.entries) if e.request_id == wanted), None)
        if entry is None:
            return _page("Not found", "<section><p>No such request in this key's journal.</p></section>", key)
        view = Record(entry).as_body()
        report = await on_worker(document.report, snapshot)
        citing = [(n, f) for n, f in enumerate(report["findings"], 1) if view["request_id"] in f["request_ids"]]
        cited = (
            (
                "<h3>Findings that cite this request</h3><ul>"
                + "".join(
                    f"<li><a href='/__sim/#finding-{n}'><code>{escape(f['rule_id'])}</code></a> {escape(f['message'])}</li>"
                    for n, f in citing
                )
                + "</ul>"
            )
            if citing
            else "<p class=ok>No finding cites this request.</p>"
        )
        notes = (" · replayed" if view["replayed"] else "") + (
            " · guide quirks: " + escape(", ".join(view["deviations"])) if view["deviations"] else ""
        )
        return _page(
            view["request_id"],
            f"""<section><h2>{escape(view["method"])} {escape(view["path"])}
<span class="s{view["status"] // 100}">{view["status"]}</span></h2>
<p class=muted>{escape(view["at"])} · {view["duration_ms"]} ms · {escape(view["request_id"])}
{notes}</p>
<h3>Request</h3><p><code>{escape(view["query"])}</code></p>{_json(view["headers"])}{_json(view["body"])}
<h3>Response</h3>{_json(view["response"])}{cited}</section>""",
            key,
        )

    # -- sections -----------------------------------------------------------------------

    def _report(self, t: TenantView, integration: str) -> str:
        report = document.report(t, integration)
        summary = report["summary"]
        if not report["findings"]:
            rows = "<p class=ok>No findings: nothing this key's traffic shows is wrong.</p>"
        else:
            rows = (
                "<table><tr><th>Severity</th><th>Rule</th><th>What to change</th><th>Requests</th></tr>"
                + "".join(
                    f"<tr id=finding-{n}><td class={f['severity']}>{f['severity']}</td>"
                    f"<td><code>{escape(f['rule_id'])}</code></td><td>{escape(f['message'])}</td>"
                    f"<td>{' '.join(_request_link(r) for r in f['request_ids'])}</td></tr>"
                    for n, f in enumerate(report["findings"], 1)
                )
                + "</table>"
            )
        parity = ""
        if report["parity"]:  # shadow mode: where the simulator answered otherwise than the upstream
            parity = (
                f"<h3>Parity with the upstream: {len(report['parity'])} difference(s)</h3><table><tr>"
                "<th>Request</th><th>Differences</th><th>Rule</th></tr>"
                + "".join(
                    f"<tr><td>{' '.join(_request_link(r) for r in p['request_ids'])}</td>"
                    f"<td>{escape('; '.join(p['differences']))}</td><td>{escape(p['fidelity'])}</td></tr>"
                    for p in report["parity"]
                )
                + "</table>"
            )
        return (
            f"<section id=report><h2>Conformance report: {summary['errors']} error(s), "
            f"{summary['warnings']} warning(s), {summary['rules_checked']} rules</h2>{rows}{parity}</section>"
            + self._readiness(report["readiness"])
        )

    def _readiness(self, ready: dict[str, Any]) -> str:
        other = next(i for i in readiness.INTEGRATIONS if i != ready["integration"])
        verdict = (
            "<p class=ok>Ready: every required item passed.</p>"
            if ready["ready"]
            else f"<p class=error>Not ready: {escape(', '.join(ready['missing']))}.</p>"
        )
        rows = "".join(
            f"<tr id=ready-{escape(i['id'])}><td class={_status_class(i)}>"
            f"{escape(i['status'].replace('_', ' '))}</td><td><code>{escape(i['id'])}</code>"
            f"{'' if i['required'] else ' <span class=muted>(optional)</span>'}</td><td>{escape(i['summary'])}"
            + "".join(f"<br><span class=error>{escape(f['message'])}</span>" for f in i.get("findings", ()))
            + (f"<br><span class=muted>How: {escape(i['how']['text'])}</span>" if "how" in i else "")
            + f"</td><td class=muted>{escape(i['source'])}</td>"
            f"<td>{' '.join(_request_link(r) for r in i['request_ids'][:5])}</td></tr>"
            for i in ready["items"]
        )
        return (
            f"<section id=readiness><h2>Go-live readiness ({escape(ready['integration'])})</h2>{verdict}"
            f"<p class=muted><a href='/__sim/?integration={escape(other)}'>judge as {escape(other)}</a></p>"
            "<table><tr><th>Status</th><th>Item</th><th>What it takes</th><th>Source</th><th>Requests</th></tr>"
            f"{rows}</table></section>"
        )

    def _carts(self, t: TenantView) -> str:
        if not t.carts:
            return "<section id=carts><h2>Carts</h2><p class=muted>No cart yet.</p></section>"
        out = []
        for cart in t.carts.values():
            connected = {c.plan_line_item_id: c.product_line_item_id for c in cart.reconciliation.connections}
            lines = "".join(
                f"<tr><td><code>{escape(l.id)}</code></td><td>{escape(l.product_id)}</td><td>{l.quantity}</td>"
                f"<td>{l.price_amount}</td><td>{escape(connected.get(l.id, l.product_reference or ''))}</td></tr>"
                for l in cart.lines
            )
            reasons = cart.reconciliation.removal_reasons
            actions = ", ".join(
                f"{a['type']} {a['payload']['line_item_id']}"
                + (
                    f" ({carts.REASON_TEXT[reasons[a['payload']['line_item_id']]]})"
                    if a["payload"]["line_item_id"] in reasons
                    else f" to {a['payload']['line_item_quantity']}"
                    if "line_item_quantity" in a["payload"]
                    else ""
                )
                for a in cart.reconciliation.actions
            )
            state = f"checked out as <code>{escape(cart.order_id)}</code>" if cart.order_id else "open"
            out.append(f"""<h3>Cart <code>{escape(cart.cart_id)}</code> <span class=muted>session
{escape(cart.user_session_id)} · {cart.currency} · {state}</span></h3>
<table><tr><th>Line</th><th>Product</th><th>Qty</th><th>Price</th><th>Protects line / reference</th></tr>{lines}</table>
<p>Last actions: {escape(actions) if actions else "<span class=ok>none</span>"}</p>""")
        return "<section id=carts><h2>Carts</h2>" + "".join(out) + "</section>"

    def _orders(self, t: TenantView) -> str:
        if not t.orders:
            return "<section id=orders><h2>Orders</h2><p class=muted>No order yet.</p></section>"
        out = []
        for order in t.orders.values():
            lines = "".join(
                f"<tr><td><code>{escape(l.id)}</code></td><td>{escape(l.product_id)}</td><td>{l.kind}</td>"
                f"<td>{l.quantity}</td><td>{l.fulfilled_quantity}</td><td>{l.refunded_quantity}</td></tr>"
                for l in order.lines
            )
            protections = "".join(
                f"<tr><td><code>{escape(p['protection_id'])}</code></td><td>{escape(p['plan_line_item_id'])} → "
                f"{escape(p['product_line_item_id'])}</td><td>{p['status']}</td><td>{p['starts_at'] or ''}</td>"
                f"<td>{p['ends_at'] or ''}</td></tr>"
                for p in order.as_body()["protections"]
            )
            out.append(f"""<h3>Order <code>{escape(order.order_id)}</code> <span class=muted>{order.status} ·
cart {escape(order.cart_id or "–")}</span></h3>
<table><tr><th>Line</th><th>Product</th><th>Kind</th><th>Ordered</th><th>Fulfilled</th><th>Refunded</th></tr>{lines}</table>
<table><tr><th>Protection</th><th>Plan → product line</th><th>Status</th><th>Starts</th><th>Ends</th></tr>
{protections or "<tr><td colspan=5 class=muted>none</td></tr>"}</table>""")
        return "<section id=orders><h2>Orders</h2>" + "".join(out) + "</section>"

    def _journal(self, t: TenantView) -> str:
        records = [Record(e) for e in t.entries[-SHOWN_REQUESTS:]]
        rows = "".join(
            f"<tr><td>{_request_link(r.request_id)}</td><td>{escape(r.method)}</td><td>{escape(r.path)}</td>"
            f"<td class=s{r.status // 100}>{r.status}</td><td>{escape(r.error_code or '')}</td></tr>"
            for r in reversed(records)
        )
        return (
            f"<section id=journal><h2>Requests (newest first, {len(records)} shown of "
            f"{t.dropped + len(t.entries)})</h2>"
            f"<table><tr><th>Request</th><th>Method</th><th>Path</th><th>Status</th><th>Error</th></tr>"
            f"{rows}</table></section>"
        )


def routes(sandbox: Sandbox, links: LoginLinks) -> list[BaseRoute]:
    board = Dashboard(sandbox, links)
    return [
        Route("/__sim/", _secured(board.overview), methods=["GET"]),
        Route("/__sim/login", _secured(board.login), methods=["POST"]),
        Route("/__sim/login/{token}", _secured(board.login_link), methods=["GET"]),
        Route("/__sim/logout", _secured(board.logout), methods=["POST"]),
        Route("/__sim/requests/{request_id}", _secured(board.request_page), methods=["GET"]),
    ]


def _status_class(item: dict[str, Any]) -> str:
    return "ok" if item["status"] == readiness.PASSED else "error" if item["required"] else "muted"
