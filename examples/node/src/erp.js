// The ERP side of the guide ("ERP integration"): publish the order when it is placed,
// then every fulfilment, refund and cancellation. A plan line is never shipped; it is
// refunded with the product it protects, found through the order's plan connections.

/** @typedef {import('./hakuna.js').HakunaClient} HakunaClient */
/** @typedef {import('./hakuna.js').Schemas} Schemas */
/** @typedef {Schemas['LineItem']} LineItem */

const now = () => new Date().toISOString();

export class Erp {
  /** @param {HakunaClient} hakuna */
  constructor(hakuna) {
    this.hakuna = hakuna;
  }

  /**
   * @param {{orderId: string, cartId: string, currency: Schemas['Currency'], lines: LineItem[]}} order
   */
  placed({ orderId, cartId, currency, lines }) {
    return this.hakuna.publishEvent({
      type: 'order_placed',
      payload: {
        order_id: orderId, placed_at: now(), order_currency: currency, cart_id: cartId,
        customer: { first_name: 'Max', last_name: 'Mustermann', email: 'max.mustermann@example.com' },
        customer_billing_address: {
          address_line_1: 'Musterstrasse', address_line_2: '1', city: 'Musterstadt', country: 'de', zip: '123456',
        },
        line_items: lines,
      },
    });
  }

  /**
   * Ships product lines; plans are not shipped, so plan lines are never sent here.
   * @param {string} orderId
   * @param {Array<[string, number]>} shipped product line id and quantity
   */
  fulfilled(orderId, shipped) {
    return this.hakuna.publishEvent({
      type: 'order_fulfillment_added',
      payload: {
        order_id: orderId,
        fulfillment_line_items: shipped.map(([lineId, quantity]) => ({
          line_item_id: lineId, quantity, fulfilled_at: now(),
        })),
      },
    });
  }

  /**
   * Refunds product lines together with the plan lines that protect them.
   * @param {string} orderId
   * @param {Array<[string, number]>} returned product line id and quantity
   */
  async refunded(orderId, returned) {
    const { plan_connections: connections } = await this.hakuna.orderConnections(orderId);
    const items = [];
    for (const [lineId, quantity] of returned) {
      items.push({ line_item_id: lineId, quantity, refunded_at: now() });
      for (const connection of connections) {
        if (connection.product_line_item_id === lineId) {
          items.push({ line_item_id: connection.plan_line_item_id, quantity, refunded_at: now() });
        }
      }
    }
    return this.hakuna.publishEvent({ type: 'order_refund_added', payload: { order_id: orderId, refund_line_items: items } });
  }

  /**
   * The customer gave back the protection alone and keeps the product: refund the plan
   * line only (inside its window: 14 days after the product shipped).
   * @param {string} orderId
   * @param {string} planLineId
   */
  planRefunded(orderId, planLineId) {
    return this.hakuna.publishEvent({
      type: 'order_refund_added',
      payload: { order_id: orderId, refund_line_items: [{ line_item_id: planLineId, quantity: 1, refunded_at: now() }] },
    });
  }

  /** @param {string} orderId */
  cancelled(orderId) {
    return this.hakuna.publishEvent({ type: 'order_cancelled', payload: { order_id: orderId, cancelled_at: now() } });
  }
}
