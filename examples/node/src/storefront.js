// The storefront side of the guide ("E-commerce integration"): offer plans on the
// product page, send every cart change as the whole cart and carry out Hakuna's actions
// until none remain, then say which order the cart became.

/** @typedef {import('./hakuna.js').HakunaClient} HakunaClient */
/** @typedef {import('./hakuna.js').Schemas} Schemas */
/** @typedef {Schemas['PlansResponse']['plans'][number]} Plan */
/** @typedef {Schemas['LineItem']} LineItem */
/** @typedef {Schemas['Currency']} Currency */
/**
 * @typedef {object} Product a product of the shop's own catalog
 * @property {string} id
 * @property {string} category
 * @property {string} title
 * @property {string} brand
 * @property {number} priceAmount in cents
 */

import { HakunaError } from './hakuna.js';

export class Storefront {
  /**
   * @param {HakunaClient} hakuna
   * @param {{cartId: string, userSessionId: string, currency?: Currency}} cart
   */
  constructor(hakuna, { cartId, userSessionId, currency = 'eur' }) {
    this.hakuna = hakuna;
    this.cartId = cartId;
    this.userSessionId = userSessionId;
    /** @type {Currency} */
    this.currency = currency;
    /** @type {LineItem[]} */
    this.lines = [];
    this.numbers = 0;
  }

  /**
   * The plans to offer next to a product; none when Hakuna protects no such product.
   * @param {Product} product
   * @returns {Promise<Plan[]>}
   */
  async productPage(product) {
    try {
      const answer = await this.hakuna.lookUpPlans({
        product_id: product.id,
        product_category: product.category,
        product_title: product.title,
        product_brand: product.brand,
        product_price_amount: product.priceAmount,
        product_price_currency: this.currency,
        user_session_id: this.userSessionId,
      });
      return answer.plans;
    } catch (error) {
      if (error instanceof HakunaError && error.errorCode === 'product_unsupported') return [];
      throw error;
    }
  }

  /**
   * Adds a product and, if the customer opted in, its plan: the plan line carries the
   * protected product's id as `custom_properties.product_reference` (guide).
   * @param {Product} product
   * @param {number} quantity
   * @param {Plan} [plan]
   * @returns {Promise<string>} the product line's id
   */
  async add(product, quantity, plan) {
    const id = this.#nextId();
    this.lines.push({
      id, quantity, price_amount: product.priceAmount,
      product_id: product.id, product_title: product.title, product_brand: product.brand,
    });
    if (plan) {
      this.lines.push({
        id: this.#nextId(), quantity, price_amount: plan.price_amount,
        product_id: plan.merchant_product_id, product_title: Object.values(plan.title)[0], product_brand: 'Hakuna',
        custom_properties: { product_reference: product.id },
      });
    }
    await this.sync();
    return id;
  }

  /** @param {string} lineId @param {number} quantity */
  async changeQuantity(lineId, quantity) {
    this.#line(lineId).quantity = quantity;
    await this.sync();
  }

  /** @param {string} lineId */
  async remove(lineId) {
    this.lines = this.lines.filter((line) => line.id !== lineId);
    await this.sync();
  }

  /** Sends the whole cart and carries out the actions Hakuna answers, until none remain. */
  async sync(maxRounds = 5) {
    for (let round = 0; round < maxRounds; round += 1) {
      const { actions } = await this.hakuna.updateCart({
        cart_id: this.cartId, user_session_id: this.userSessionId,
        cart_currency: this.currency, line_items: this.lines,
      });
      if (actions.length === 0) return;
      for (const action of actions) {
        if (action.type === 'update_line_item') {
          this.#line(action.payload.line_item_id).quantity = action.payload.line_item_quantity;
        } else {
          this.lines = this.lines.filter((line) => line.id !== action.payload.line_item_id);
        }
      }
    }
    throw new Error(`cart ${this.cartId} still had actions after ${maxRounds} rounds`);
  }

  connections() {
    return this.hakuna.cartConnections(this.cartId, this.userSessionId);
  }

  /** @param {string} orderId */
  checkOut(orderId) {
    return this.hakuna.checkOut({ cart_id: this.cartId, user_session_id: this.userSessionId, order_id: orderId });
  }

  /** @param {string} lineId */
  #line(lineId) {
    const line = this.lines.find((l) => l.id === lineId);
    if (!line) throw new Error(`no line ${lineId} in cart ${this.cartId}`);
    return line;
  }

  #nextId() {
    this.numbers += 1;
    return `${this.cartId}-line-${this.numbers}`;
  }
}
