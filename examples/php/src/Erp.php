<?php

declare(strict_types=1);

namespace HakunaShop;

/**
 * The ERP side of the guide ("ERP integration"): publish the order when it is placed,
 * then every fulfilment, refund and cancellation. Plans are fulfilled and refunded with
 * the product they protect, found through the order's plan connections.
 */
final class Erp
{
    /** @param array{first_name: string, last_name: string, email: string} $customer */
    public function __construct(
        private readonly HakunaClient $hakuna,
        private readonly array $customer = ['first_name' => 'Max', 'last_name' => 'Mustermann', 'email' => 'max.mustermann@example.com'],
    ) {
    }

    /**
     * @param list<array<string, mixed>> $lines the order's lines (the checked-out cart's)
     * @return string the event's id
     */
    public function placed(string $orderId, array $lines, ?string $cartId = null, string $currency = 'eur', string $country = 'de'): string
    {
        $payload = [
            'order_id' => $orderId,
            'placed_at' => self::now(),
            'order_currency' => $currency,
            'customer' => $this->customer,
            'customer_billing_address' => ['address_line_1' => 'Musterstrasse 1', 'city' => 'Musterstadt', 'country' => $country, 'zip' => '12345'],
            'line_items' => $lines,
        ];
        if ($cartId !== null) {
            $payload['cart_id'] = $cartId;
        }
        return $this->hakuna->publishEvent(['type' => 'order_placed', 'payload' => $payload])['event_id'];
    }

    /** @param array<string, int> $shipped product line id => quantity; their plans are fulfilled with them */
    public function fulfilled(string $orderId, array $shipped): string
    {
        return $this->lineEvent('order_fulfillment_added', 'fulfillment_line_items', 'fulfilled_at', $orderId, $this->withPlans($orderId, $shipped));
    }

    /** @param array<string, int> $returned product line id => quantity; their plans are refunded with them (guide: "you must") */
    public function refunded(string $orderId, array $returned): string
    {
        return $this->refund($orderId, $this->withPlans($orderId, $returned));
    }

    /** The customer gave back the protection alone and keeps the product (inside its window). */
    public function planRefunded(string $orderId, string $planLineId, int $quantity = 1): string
    {
        return $this->refund($orderId, [$planLineId => $quantity]);
    }

    public function cancelled(string $orderId): string
    {
        return $this->hakuna->publishEvent([
            'type' => 'order_cancelled',
            'payload' => ['order_id' => $orderId, 'cancelled_at' => self::now()],
        ])['event_id'];
    }

    /** @param array<string, int> $lines */
    private function refund(string $orderId, array $lines): string
    {
        return $this->lineEvent('order_refund_added', 'refund_line_items', 'refunded_at', $orderId, $lines);
    }

    /**
     * A fulfilment or a refund: each line with its quantity and the time it happened.
     *
     * @param array<string, int> $lines line id => quantity
     */
    private function lineEvent(string $type, string $field, string $stamp, string $orderId, array $lines): string
    {
        $items = [];
        foreach ($lines as $lineId => $quantity) {
            $items[] = ['line_item_id' => $lineId, 'quantity' => $quantity, $stamp => self::now()];
        }
        return $this->hakuna->publishEvent(['type' => $type, 'payload' => ['order_id' => $orderId, $field => $items]])['event_id'];
    }

    /**
     * The product lines asked for, and the plan lines connected to them.
     *
     * @param array<string, int> $quantities
     * @return array<string, int>
     */
    private function withPlans(string $orderId, array $quantities): array
    {
        $items = $quantities;
        foreach ($this->hakuna->orderConnections($orderId)['plan_connections'] as $connection) {
            $product = $connection['product_line_item_id'];
            if (isset($quantities[$product]) && !isset($items[$connection['plan_line_item_id']])) {
                $items[$connection['plan_line_item_id']] = $quantities[$product];
            }
        }
        return $items;
    }

    private static function now(): string
    {
        return (new \DateTimeImmutable('now', new \DateTimeZone('UTC')))->format('Y-m-d\TH:i:s.v\Z');
    }
}
