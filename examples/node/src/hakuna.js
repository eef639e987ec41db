// A small Hakuna client on Node's built-in fetch. Its types come from the simulator's
// OpenAPI document (`npm run types` writes hakuna-api.d.ts with openapi-typescript), so
// `npm run typecheck` fails when a request or an answer stops matching the API.

/** @typedef {import('../hakuna-api.js').components['schemas']} Schemas */
/** @typedef {import('../hakuna-api.js').operations} Operations */
/** @typedef {Schemas['PlansResponse']} PlansResponse */
/** @typedef {Schemas['CartUpdateRequest']} CartUpdate */
/** @typedef {Schemas['CartUpdateResponse']} CartActions */
/** @typedef {Schemas['CartConnectionsResponse']} CartConnections */
/** @typedef {Schemas['CheckoutRequest']} Checkout */
/** @typedef {Schemas['CheckoutResponse']} CheckoutAnswer */
/** @typedef {Schemas['EventRequest']} OrderEvent */
/** @typedef {Schemas['EventResponse']} EventAnswer */
/** @typedef {Schemas['OrderConnectionsResponse']} OrderConnections */
/** @typedef {Schemas['Order']} Order */
/** @typedef {Schemas['Error']} ErrorBody */
/** @typedef {Operations['lookUpPlans']['parameters']['query']} PlanQuery */

/** A refusal, in the API's error body: `errorCode` says which rule, `validationErrors` why. */
export class HakunaError extends Error {
  /**
   * @param {number} status
   * @param {ErrorBody} body
   */
  constructor(status, body) {
    super(`${status} ${body.error.error_code}: ${body.error.validation_errors.join('; ')}`);
    this.status = status;
    this.errorCode = body.error.error_code;
    this.validationErrors = body.error.validation_errors;
  }
}

const ATTEMPTS = 4;

export class HakunaClient {
  /**
   * @param {string} baseUrl the simulator (http://127.0.0.1:8765, with or without /sandbox) or the real sandbox's host
   * @param {string} apiKey an sk_test_ key; each key is its own sandbox
   */
  constructor(baseUrl, apiKey) {
    this.baseUrl = baseUrl.replace(/\/$/, '').replace(/\/sandbox$/, '');
    this.apiKey = apiKey;
  }

  /**
   * @template T
   * @param {'GET' | 'POST' | 'PUT'} method
   * @param {string} path
   * @param {unknown} [body]
   * @returns {Promise<T>}
   */
  async #call(method, path, body) {
    /** @type {Record<string, string>} */
    const headers = { Authorization: `Bearer ${this.apiKey}`, 'Hakuna-Version': 'v2.0' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      // One key per request, kept for its retries: a retry after a lost answer is then
      // answered as a replay instead of applying the change twice.
      headers['Hakuna-Idempotency-Key'] = crypto.randomUUID();
    }
    for (let attempt = 1; ; attempt += 1) {
      /** @type {Response | undefined} */
      let response;
      try {
        response = await fetch(this.baseUrl + path, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (error) {
        if (attempt >= ATTEMPTS) throw error;
      }
      if (response !== undefined) {
        const retryable = response.status === 429 || response.status >= 500;
        if (!retryable || attempt >= ATTEMPTS) {
          const answer = await response.json();
          if (!response.ok) throw new HakunaError(response.status, /** @type {ErrorBody} */ (answer));
          return /** @type {T} */ (answer);
        }
        await response.body?.cancel();
      }
      // Never sooner than Retry-After; otherwise a short backoff.
      const retryAfter = Number(response?.headers.get('retry-after') ?? 0);
      await new Promise((resolve) => setTimeout(resolve, Math.max(retryAfter * 1000, 100 * 2 ** (attempt - 1))));
    }
  }

  /** @param {PlanQuery} query @returns {Promise<PlansResponse>} */
  lookUpPlans(query) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined) params.set(name, String(value));
    }
    return this.#call('GET', `/sandbox/plans?${params}`);
  }

  /** @param {CartUpdate} cart @returns {Promise<CartActions>} */
  updateCart(cart) {
    return this.#call('POST', '/sandbox/carts', cart);
  }

  /** @param {string} cartId @param {string} userSessionId @returns {Promise<CartConnections>} */
  cartConnections(cartId, userSessionId) {
    const query = new URLSearchParams({ user_session_id: userSessionId });
    return this.#call('GET', `/sandbox/carts/${encodeURIComponent(cartId)}/plan_connections?${query}`);
  }

  /** @param {Checkout} checkout @returns {Promise<CheckoutAnswer>} */
  checkOut(checkout) {
    return this.#call('POST', '/sandbox/checkouts', checkout);
  }

  /** @param {OrderEvent} event @returns {Promise<EventAnswer>} */
  publishEvent(event) {
    return this.#call('POST', '/sandbox/events', event);
  }

  /** @param {string} orderId @returns {Promise<OrderConnections>} */
  orderConnections(orderId) {
    return this.#call('GET', `/sandbox/orders/${encodeURIComponent(orderId)}/plan_connections`);
  }

  /** @param {string} orderId @returns {Promise<Order>} */
  order(orderId) {
    return this.#call('GET', `/sandbox/orders/${encodeURIComponent(orderId)}`);
  }

  /**
   * The simulator's conformance report on everything this key sent (not part of the
   * real API): a correct integration gets no finding, and `readiness.ready` once it has
   * exercised every path go-live asks for.
   * @returns {Promise<{summary: Record<string, number>, findings: Array<{rule_id: string, severity: string, message: string}>, readiness: {ready: boolean, missing: string[], items: Array<{id: string, status: string}>}}>}
   */
  report() {
    return this.#call('GET', '/__sim/report');
  }

  /**
   * The simulator's fault injection (not part of the real API): make the next requests fail.
   * @param {Array<Record<string, unknown>>} rules
   */
  setFaults(rules) {
    return this.#call('PUT', '/__sim/faults', { faults: rules });
  }
}
