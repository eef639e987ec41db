"""`hakuna-sim contract-test`: the contract flows as a command; exit 0 only when all pass.

The flows run in a child pytest process with no configuration file of its own: this
process has imported the package already (pytest could not rewrite its asserts), and a
merchant's project settings must not change what the contract tests check."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

# The child locates the flows itself, in the contract_tests it imports: the parent may
# have imported another copy (`python -m` puts the current folder first on sys.path, and
# a checkout of this project there has a contract_tests of its own). -P keeps the current
# folder off the child's sys.path, so it imports the installed one.
_LAUNCH = (
    "import os, sys, pytest, contract_tests.flows as flows; "
    "here = os.path.dirname(flows.__file__); "
    "sys.exit(pytest.main([here, '-c', os.devnull, '--rootdir', here, *sys.argv[1:]]))"
)


# Test tools a developer's environment often holds, whose pytest plugins the flows never
# use: schemathesis' and hypothesis' load their whole packages, 5 of the 7 seconds a
# child pytest took to start here. Blocking a plugin that is not installed is harmless.
QUIET_PLUGINS = ("-p", "no:schemathesis", "-p", "no:hypothesispytest")


def pytest_command(base_url: str | None, api_key: str | None, junit_xml: str | None, extra: Sequence[str] = ()) -> list[str]:
    args = [sys.executable, "-P", "-c", _LAUNCH, "-p", "no:cacheprovider", "-q", *QUIET_PLUGINS]
    # (the plugin comes in through its pytest11 entry point)
    if base_url:
        args += ["--hakuna-base-url", base_url, "--hakuna-api-key", str(api_key)]
    if junit_xml:
        args += ["--junit-xml", str(Path(junit_xml).resolve())]
    return args + [a for a in extra if a != "--"]


def run_contract_tests(base_url: str | None, api_key: str | None, junit_xml: str | None, extra: Sequence[str] = ()) -> int:
    if base_url:
        api_key = api_key or os.environ.get("HAKUNA_API_KEY")
        if not api_key:
            print("hakuna-sim contract-test: --base-url needs --api-key (or HAKUNA_API_KEY)", file=sys.stderr)
            return 2
    return 0 if subprocess.call(pytest_command(base_url, api_key, junit_xml, extra)) == 0 else 1
