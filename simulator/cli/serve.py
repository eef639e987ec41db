"""Start-up: load and check the catalog, build the app, run uvicorn."""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from simulator.config import SimConfig
from simulator.contract import schemas
from simulator.contract.catalog import CatalogError, load_catalog
from simulator.contract.resources import default_catalog_path
from simulator.domain.errors import SimError
from simulator.domain.faults import parse_rules
from simulator.domain.orders import RefundWindows


class StartupError(Exception):
    pass


def load_faults(path: str | None) -> tuple[dict[str, Any], ...]:
    if path is None:
        return ()
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StartupError(f"{path}: cannot read the fault rules ({exc})") from exc
    problems = schemas.validate("sim-faults.json", document, root="fault rules")
    if not problems:
        try:
            parse_rules(document)
        except SimError as error:
            problems = error.messages
    if problems:
        raise StartupError("\n".join(f"{path}: {p}" for p in problems))
    return tuple(document["faults"])


MIN_ADMIN_TOKEN = 16
BACKGROUND_SHARE = 0.25  # of the process's time, for reports and snapshots while requests are answered


def build_config(args: argparse.Namespace) -> SimConfig:
    try:
        catalog = load_catalog(args.catalog or default_catalog_path())
    except CatalogError as exc:
        raise StartupError(f"the catalog is broken, not starting:\n{exc}") from exc
    if args.upstream is not None and not args.upstream.startswith(("http://", "https://")):
        raise StartupError(f"--upstream must be the API's http(s) base URL, e.g. https://…/sandbox, not {args.upstream!r}")
    if args.admin_token is not None and len(args.admin_token) < MIN_ADMIN_TOKEN:
        raise StartupError(f"--admin-token must be {MIN_ADMIN_TOKEN} characters or more: it guards every key's sandbox")
    days, months = args.refund_windows
    return SimConfig(
        catalog=catalog,
        strict=args.strict,
        seed=args.seed,
        refund_windows=RefundWindows(days, months),
        faults=load_faults(args.faults),
        rate_limit=args.rate_limit,
        magic_values=args.magic_values,
        max_tenants=args.max_tenants,
        tenant_idle_seconds=args.tenant_idle_hours * 3600,
        memory_budget=args.memory_budget_mb * 1024 * 1024,
        upstream=args.upstream,
        upstream_timeout=args.upstream_timeout,
        admin_token=args.admin_token,
        sim_api=not args.no_sim_api,
        own_collector=True,
        background_share=BACKGROUND_SHARE,
    )


def serve(args: argparse.Namespace) -> int:
    try:
        config = build_config(args)
    except StartupError as exc:
        print(f"hakuna-sim: {exc}", file=sys.stderr)
        return 2
    from simulator.web import connections
    from simulator.web.app import create_app

    store = None
    if args.state is not None:
        from simulator.state.sqlite import SqliteStore, StateFileError

        try:
            store = SqliteStore(args.state)
        except StateFileError as exc:
            print(f"hakuna-sim: {exc}", file=sys.stderr)
            return 2
    app = create_app(config, store=store)
    connections.raise_descriptor_limit()
    # Everything built so far (modules, compiled schemas, the catalog) lives as long as
    # the process: keep it out of the collector's full scans.
    gc.freeze()
    # A report or an import runs on a worker thread; by default it would keep the GIL
    # for 5 ms at a time, and every other key's requests would wait that long. 1 ms
    # took another key's look-up p99 from 23 ms to 13-16 ms while reports of 10,000
    # entries were read in a loop (benchmarks/run.py); idle threads cost nothing.
    sys.setswitchinterval(0.001)
    base = f"http://{args.host}:{args.port}"
    # Bound to every interface (as in the container), the server is reached on loopback
    # from this machine: the curl line says so.
    local = f"http://127.0.0.1:{args.port}" if args.host in ("0.0.0.0", "::", "") else base
    print(
        f"hakuna-sim serving the Hakuna sandbox API at {base}/sandbox "
        f"({len(config.catalog.plans)} plans{', strict' if config.strict else ''})",
        flush=True,
    )
    if store is not None:
        figures = store.figures()
        print(f"state kept in {store.path} ({figures['keys']} keys stored); answered requests survive a restart", flush=True)
    if config.upstream:
        print(
            f"shadow mode: every vendor request is forwarded to {config.upstream}, whose answers are "
            "answered; the report's parity section lists where the simulator differs",
            flush=True,
        )
    print(
        f"try: curl -H 'Authorization: Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc' -H 'Hakuna-Version: v2.0' "
        f"'{local}/sandbox/plans?product_id=prd-iphone14&product_category=smartphones"
        f"&product_title=iPhone%2014&product_brand=Apple&product_price_amount=112900"
        f"&product_price_currency=eur&user_session_id=f4f78677-31ea-4fea-9d91-5fdd91119aa8'",
        flush=True,
    )
    server = _Server(
        uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            log_level="warning",
            access_log=False,
            loop="auto",
            http=connections.guarded_protocol(args.read_timeout),
            lifespan="on",
            proxy_headers=False,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=STOP_WITHIN - CLOSING,
        )
    )
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if not server.started:
        print(f"hakuna-sim: could not serve on {args.host}:{args.port} (is the port in use?)", file=sys.stderr)
        return 1
    print("hakuna-sim stopped", flush=True)
    return 0


STOP_WITHIN = 3  # seconds from SIGTERM to exit, whatever clients do
# of which closing the state file (its last commit and checkpoint) may take this long;
# requests in flight get the rest
CLOSING = 1


class _Server(uvicorn.Server):
    """uvicorn's server, except that SIGTERM and SIGINT end it with a clean exit:
    uvicorn re-raises a caught signal once it has stopped, which kills the process
    before it can say so."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)
