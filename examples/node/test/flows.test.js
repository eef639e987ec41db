// The guide's flows against a running simulator (HAKUNA_BASE_URL, default
// http://127.0.0.1:8765). Each test uses a key of its own, so it starts from an empty
// sandbox, unless HAKUNA_API_KEY names one for the whole run (as the CI recipes do, to
// publish that key's report); every test ends by asking the simulator's conformance
// report, and any finding fails it. With one key for the whole run, the last test asks
// that key's go-live readiness: every path the checklist requires was exercised.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, test } from 'node:test';

import { Erp } from '../src/erp.js';
import { HakunaClient } from '../src/hakuna.js';
import { Storefront } from '../src/storefront.js';

const BASE_URL = process.env.HAKUNA_BASE_URL ?? 'http://127.0.0.1:8765';
// Ids no earlier run on the same key can have used.
const RUN = randomBytes(4).toString('hex');
const IPHONE = { id: 'prd-iphone14', category: 'smartphones', title: 'iPhone 14', brand: 'Apple', priceAmount: 112900 };
const CASE = { id: 'prd-bb-32', category: 'accessories', title: 'Silicone Case iPhone 14', brand: 'Apple', priceAmount: 1200 };

/** @type {HakunaClient} */
let hakuna;

beforeEach(() => {
  hakuna = new HakunaClient(BASE_URL, process.env.HAKUNA_API_KEY ?? `sk_test_node${randomBytes(8).toString('hex')}`);
});

afterEach(async () => {
  const report = await hakuna.report();
  assert.deepEqual(report.findings, [], JSON.stringify(report.findings, null, 2));
});

/** @param {string} name */
function shop(name) {
  return new Storefront(hakuna, { cartId: `cart-${name}-${RUN}`, userSessionId: `session-${name}-${RUN}` });
}

test('product page: the guide\'s iPhone gets its plan, a case gets none', async () => {
  const storefront = shop('page');
  const plans = await storefront.productPage(IPHONE);
  assert.equal(plans.length > 0, true);
  assert.equal(plans[0].product_reference, IPHONE.id);
  assert.deepEqual(await storefront.productPage(CASE), []);
});

test('cart: the plan follows its product\'s quantity, and leaves with it', async () => {
  const storefront = shop('quantity');
  const [plan] = await storefront.productPage(IPHONE);
  const iphone = await storefront.add(IPHONE, 1, plan);
  await storefront.add(CASE, 1);
  const { plan_connections: connections } = await storefront.connections();
  assert.equal(connections.length, 1);
  assert.equal(connections[0].product_line_item_id, iphone);

  await storefront.changeQuantity(iphone, 2);
  const planLine = storefront.lines.find((line) => line.id === connections[0].plan_line_item_id);
  assert.equal(planLine?.quantity, 2, 'Hakuna asked to raise the plan to the product\'s quantity');

  await storefront.remove(iphone);
  assert.deepEqual(storefront.lines.map((line) => line.product_id), [CASE.id], 'the plan left with its product');
});

test('checkout to refund: order placed, shipped, returned with its plan', async () => {
  const storefront = shop('order');
  const [plan] = await storefront.productPage(IPHONE);
  const iphone = await storefront.add(IPHONE, 1, plan);
  const accessory = await storefront.add(CASE, 1);
  await storefront.checkOut(`ord-${RUN}-1`);

  const erp = new Erp(hakuna);
  await erp.placed({ orderId: `ord-${RUN}-1`, cartId: storefront.cartId, currency: 'eur', lines: storefront.lines });
  await erp.fulfilled(`ord-${RUN}-1`, [[iphone, 1], [accessory, 1]]);
  assert.deepEqual((await hakuna.order(`ord-${RUN}-1`)).protections.map((p) => p.status), ['active']);

  await erp.refunded(`ord-${RUN}-1`, [[iphone, 1]]);
  assert.deepEqual((await hakuna.order(`ord-${RUN}-1`)).protections.map((p) => p.status), ['refunded']);
});

test('cancellation before shipping cancels the protection', async () => {
  const storefront = shop('cancel');
  const [plan] = await storefront.productPage(IPHONE);
  await storefront.add(IPHONE, 1, plan);
  await storefront.checkOut(`ord-${RUN}-2`);
  const erp = new Erp(hakuna);
  await erp.placed({ orderId: `ord-${RUN}-2`, cartId: storefront.cartId, currency: 'eur', lines: storefront.lines });
  await erp.cancelled(`ord-${RUN}-2`);
  assert.deepEqual((await hakuna.order(`ord-${RUN}-2`)).protections.map((p) => p.status), ['cancelled']);
});

test('a plan given back alone is refunded on its own', async () => {
  const storefront = shop('plan-alone');
  const [plan] = await storefront.productPage(IPHONE);
  const iphone = await storefront.add(IPHONE, 1, plan);
  await storefront.checkOut(`ord-${RUN}-3`);
  const erp = new Erp(hakuna);
  await erp.placed({ orderId: `ord-${RUN}-3`, cartId: storefront.cartId, currency: 'eur', lines: storefront.lines });
  await erp.fulfilled(`ord-${RUN}-3`, [[iphone, 1]]);
  const { plan_connections: [connection] } = await hakuna.orderConnections(`ord-${RUN}-3`);
  await erp.planRefunded(`ord-${RUN}-3`, connection.plan_line_item_id);
  assert.deepEqual((await hakuna.order(`ord-${RUN}-3`)).protections.map((p) => p.status), ['refunded']);
});

test('a lost answer is retried with its idempotency key, and a 429 waited out', async () => {
  const storefront = shop('faults');
  const [plan] = await storefront.productPage(IPHONE);
  await storefront.add(IPHONE, 1, plan);
  await storefront.checkOut(`ord-${RUN}-4`);
  await hakuna.setFaults([
    { route: '/sandbox/events', status: 503, count: 1, when: 'after' },
    { route: '/sandbox/orders/*', method: 'GET', status: 429, count: 1, retry_after: 1 },
  ]);
  const erp = new Erp(hakuna);
  await erp.placed({ orderId: `ord-${RUN}-4`, cartId: storefront.cartId, currency: 'eur', lines: storefront.lines });
  const started = Date.now();
  assert.equal((await hakuna.order(`ord-${RUN}-4`)).line_items.length, 2, 'placed once, though its first answer was lost');
  assert.equal(Date.now() - started >= 1000, true, 'the client waited as long as Retry-After said');
});

test('go-live readiness of the run\'s key', { skip: process.env.HAKUNA_API_KEY ? false : 'a key per test: set HAKUNA_API_KEY to judge a whole run' }, async () => {
  const { readiness } = await hakuna.report();
  assert.equal(readiness.ready, true, `missing: ${readiness.missing.join(', ')}`);
});
