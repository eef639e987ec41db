"""Fixtures of the contract flows: a schema-validating client on the target, the
reference merchant, and ids unique per test (so the flows also run on a shared key of
the real sandbox)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from contract_tests.client import HakunaClient
from contract_tests.merchant import Erp, ShopProduct, Storefront
from contract_tests.plugin import Target
from contract_tests.recording import recording_transport, unique_id
from contract_tests.sim_controls import SimControls

IPHONE = ShopProduct("prd-iphone14", "smartphones", "iPhone 14", "Apple", 112900)
CASE = ShopProduct("prd-bb-32", "accessories", "Silikon Case iPhone 14", "Apple", 1200)
PRODUCTS = {p.id: p for p in (IPHONE, CASE)}


@pytest.fixture
def client(hakuna_target: Target, request: pytest.FixtureRequest) -> Iterator[HakunaClient]:
    # `hakuna-sim parity` records what each test exchanges (contract_tests/recording.py).
    recording = recording_transport(request.node.nodeid)
    options = {"transport": recording} if recording else {}
    with hakuna_target.client(validate_schemas=True, **options) as c:
        yield c


@pytest.fixture
def unique(request: pytest.FixtureRequest) -> str:
    return unique_id(request.node.nodeid) or uuid.uuid4().hex[:12]


@pytest.fixture
def shop(client: HakunaClient, unique: str) -> Storefront:
    return Storefront(client, cart_id=f"cart-{unique}", user_session_id=f"sess-{unique}", products=PRODUCTS)


@pytest.fixture
def erp(client: HakunaClient) -> Erp:
    return Erp(client)


@pytest.fixture
def controls(hakuna_target: Target) -> Iterator[SimControls]:
    if hakuna_target.controls is None:
        pytest.skip("needs the simulator's /__sim controls, which this server does not have")
    yield hakuna_target.controls
    # A key given on the command line is shared by every test: leave it without faults.
    hakuna_target.controls.clear_faults()
