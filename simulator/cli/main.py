"""`hakuna-sim`: serve the simulator (and, from the contract tests, run them)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from simulator import __version__


def _refund_windows(text: str) -> tuple[int, int]:
    try:
        days, months = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("expected DAYS,MONTHS, e.g. 14,3") from None
    if not (0 <= days <= 36500 and 0 <= months <= 1200):
        raise argparse.ArgumentTypeError("days must be 0 to 36500 and months 0 to 1200")
    return days, months


def _rate(text: str) -> float:
    number = text.removesuffix("/s")
    try:
        rate = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError("expected requests a second, e.g. 20/s") from None
    if rate <= 0:
        raise argparse.ArgumentTypeError("the rate must be above 0")
    return rate


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError("must be above 0")
        return value

    return parse


ENV_PREFIX = "HAKUNA_SIM_"
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def _from_environment(command: argparse.ArgumentParser, environ: Mapping[str, str]) -> list[str]:
    """Every flag of `command` can also come from `HAKUNA_SIM_<FLAG>` (`--read-timeout`
    from HAKUNA_SIM_READ_TIMEOUT), so a container or a CI service is configured without
    a command line; a flag given on the command line wins. Answers what could not be
    read, to report only when that command runs."""
    problems = []
    for action in command._actions:
        if not action.option_strings or action.dest == "help":
            continue
        name = ENV_PREFIX + action.dest.upper()
        action.help = f"{action.help or ''} [env {name}]".strip()
        text = environ.get(name)
        if text is None:
            continue
        try:
            if isinstance(action, argparse._StoreTrueAction):
                if text.strip().lower() not in _TRUE | _FALSE:
                    raise argparse.ArgumentTypeError("expected 1/true/yes/on or 0/false/no/off")
                action.default = text.strip().lower() in _TRUE
            else:
                action.default = action.type(text) if callable(action.type) else text
        except argparse.ArgumentTypeError as wrong:
            problems.append(f"{name}={text!r}: {wrong}")
        except ValueError:
            kind = getattr(action.type, "__name__", "value")
            wanted = "a whole number" if kind == "int" else f"a {kind}"
            problems.append(f"{name}={text!r}: {action.option_strings[0]} takes {wanted}")
    return problems


def build_parser(environ: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hakuna-sim", description="A stateful fake of the Hakuna API.")
    parser.add_argument("--version", action="version", version=f"hakuna-sim {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the simulated API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--catalog", metavar="PATH", help="catalog JSON (default: the bundled German shop)")
    serve.add_argument("--strict", action="store_true", help="refuse the guide's quirks and look-ups that match no plan")
    serve.add_argument("--seed", type=int, help="make every generated id reproducible")
    serve.add_argument(
        "--refund-windows",
        type=_refund_windows,
        metavar="DAYS,MONTHS",
        default=(14, 3),
        help="plan refund windows after fulfilment: alone (days), with its product (months); default 14,3",
    )
    serve.add_argument(
        "--faults", metavar="PATH", help="fault rules (JSON, as PUT /__sim/faults takes) that every key starts with"
    )
    serve.add_argument(
        "--rate-limit", type=_rate, metavar="N/s", help="at most N requests a second per key (429 with Retry-After beyond)"
    )
    serve.add_argument("--magic-values", action="store_true", help="answer vendor errors for the magic test values (see README)")
    serve.add_argument(
        "--read-timeout",
        type=_positive(float),
        default=15.0,
        metavar="S",
        help="seconds a client has to send a whole request (default: %(default)s)",
    )
    serve.add_argument(
        "--upstream",
        metavar="URL",
        help="shadow mode: forward every vendor request to this API (e.g. the real sandbox's "
        "https://…/sandbox), answer its answers, and report where the simulator differs",
    )
    serve.add_argument(
        "--upstream-timeout",
        type=_positive(float),
        default=10.0,
        metavar="S",
        help="seconds to wait for the upstream before answering 502 (default: %(default)s)",
    )
    serve.add_argument(
        "--max-tenants",
        type=_positive(int),
        default=10_000,
        metavar="N",
        help="keys kept in memory; the least recently used go first (default: %(default)s)",
    )
    serve.add_argument(
        "--tenant-idle-hours",
        type=_positive(float),
        default=24.0,
        metavar="H",
        help="a key unused this long is evicted (default: %(default)s)",
    )
    serve.add_argument(
        "--memory-budget-mb",
        type=_positive(int),
        default=256,
        metavar="MB",
        help="state kept for all keys together; past it the least recently used keys are evicted (default: %(default)s)",
    )
    serve.add_argument(
        "--state",
        metavar="PATH",
        help="keep every key's state in this SQLite file (created if missing): answered requests "
        "survive a restart or a crash; evicted keys are loaded back from it (default: memory only)",
    )
    serve.add_argument(
        "--admin-token",
        metavar="TOKEN",
        help="open the server-wide routes (keys held, eviction, metrics) to this token, 16 characters or more",
    )
    serve.add_argument(
        "--no-sim-api",
        action="store_true",
        help="serve the vendor surface only: no /__sim controls, dashboard or server-wide routes",
    )
    serve.set_defaults(environment_problems=_from_environment(serve, os.environ if environ is None else environ))

    contract = commands.add_parser("contract-test", help="run the contract tests against a server")
    contract.add_argument("--base-url", help="the API's base URL, e.g. https://…/sandbox (default: an in-process simulator)")
    contract.add_argument("--api-key", help="the key for --base-url (or HAKUNA_API_KEY)")
    contract.add_argument("--junit-xml", metavar="FILE", help="also write a JUnit XML report")
    contract.add_argument("pytest_args", nargs=argparse.REMAINDER, help="more pytest arguments after --, e.g. -- -k refusals")
    parity = commands.add_parser("parity", help="run the contract flows against two servers and compare every answer")
    parity.add_argument("--base-url", required=True, help="the first server, e.g. a simulator's http://…/sandbox")
    parity.add_argument("--compare-url", required=True, help="the second server, e.g. the real sandbox's https://…/sandbox")
    parity.add_argument("--api-key", help="the key for both (or HAKUNA_API_KEY), or the first's with --compare-api-key")
    parity.add_argument("--compare-api-key", help="the second server's key, when it needs another")
    parity.add_argument("--junit-xml", metavar="FILE", help="also write the comparison as JUnit XML")
    board = commands.add_parser("dashboard", help="print (and open) a link that logs a key into the dashboard")
    board.add_argument("--base-url", help="the simulator (default: HAKUNA_BASE_URL, else http://127.0.0.1:8765)")
    board.add_argument("--api-key", help="the key whose sandbox to show (or HAKUNA_API_KEY)")
    board.add_argument("--no-open", action="store_true", help="only print the link")
    report = commands.add_parser("report", help="print the conformance report of a key's sandbox")
    report.add_argument("--base-url", help="the simulator (default: HAKUNA_BASE_URL, else http://127.0.0.1:8765)")
    report.add_argument("--api-key", help="the key whose integration to judge (or HAKUNA_API_KEY)")
    report.add_argument("--junit-xml", metavar="FILE", help="also write the report as JUnit XML")
    report.add_argument(
        "--fail-on",
        choices=("error", "warning"),
        default="error",
        help="exit 1 when a finding of this severity or worse exists (default: error)",
    )
    report.add_argument(
        "--require-ready",
        action="store_true",
        help="exit 1 unless every required go-live readiness item passed, printing what is missing and how to exercise it",
    )
    report.add_argument(
        "--integration",
        choices=("storefront-and-erp", "erp-only"),
        default="storefront-and-erp",
        help="the integration path readiness judges (default: storefront-and-erp)",
    )
    state = commands.add_parser("state", help="export a key's whole state to a file, or import one")
    state_commands = state.add_subparsers(dest="state_command", required=True)
    for name, text in (
        ("export", "write the key's state to FILE (- for stdout)"),
        ("import", "replace the key's state with FILE's"),
    ):
        sub = state_commands.add_parser(name, help=text)
        sub.add_argument("--base-url", help="the simulator (default: HAKUNA_BASE_URL, else http://127.0.0.1:8765)")
        sub.add_argument("--api-key", help="the key whose state it is (or HAKUNA_API_KEY)")
        sub.add_argument("file", metavar="FILE", help="a snapshot file (schemas/sim-state.json); - for standard in/out")
        if name == "import":
            sub.add_argument(
                "--rebase",
                action="store_true",
                help="move every time in the snapshot by how long ago it was taken (a fixture's '13 days ago' stays so)",
            )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        from simulator.cli.serve import serve

        if args.environment_problems:
            parser.error("; ".join(args.environment_problems))
        return serve(args)
    if args.command == "report":
        from simulator.cli.report import print_report

        return print_report(args.base_url, args.api_key, args.junit_xml, args.fail_on, args.require_ready, args.integration)
    if args.command == "state":
        from simulator.cli import state as state_cli

        if args.state_command == "export":
            return state_cli.export_state(args.base_url, args.api_key, args.file)
        return state_cli.import_state(args.base_url, args.api_key, args.file, args.rebase)
    if args.command == "dashboard":
        from simulator.cli.dashboard import open_dashboard

        return open_dashboard(args.base_url, args.api_key, not args.no_open)
    if args.command == "parity":
        from contract_tests.parity_run import run_parity

        key = args.api_key or os.environ.get("HAKUNA_API_KEY")
        if not key:
            print("hakuna-sim parity: --api-key (or HAKUNA_API_KEY) is needed", file=sys.stderr)
            return 2
        return run_parity(args.base_url, args.compare_url, key, args.compare_api_key, args.junit_xml)
    if args.command == "contract-test":
        from contract_tests.run import run_contract_tests

        return run_contract_tests(args.base_url, args.api_key, args.junit_xml, args.pytest_args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
