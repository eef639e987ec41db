<?php

declare(strict_types=1);

namespace HakunaShop;

/**
 * The storefront side of the guide ("E-commerce integration"): offer plans on the product
 * page, send every cart change as the whole cart and carry out Hakuna's actions until none
 * remain, show the cart's connections, then say which order the cart became.
 */
final class Storefront
{
    /** @var list<array<string, mixed>> the cart's line items, as the API takes them */
    public array $lines = [];
    private int $numbers = 0;

    public function __construct(
        private readonly HakunaClient $hakuna,
        public readonly string $cartId,
        public readonly string $userSessionId,
        public readonly string $currency = 'eur',
    ) {
    }

    /** @return list<array<string, mixed>> the plans to offer next to the product; none when Hakuna protects no such product */
    public function productPage(Product $product): array
    {
        try {
            return $this->hakuna->lookUpPlans([
                'product_id' => $product->id,
                'product_category' => $product->category,
                'product_title' => $product->title,
                'product_brand' => $product->brand,
                'product_price_amount' => $product->priceAmount,
                'product_price_currency' => $this->currency,
                'user_session_id' => $this->userSessionId,
            ])['plans'];
        } catch (HakunaError $error) {
            if ($error->errorCode === 'product_unsupported') {
                return [];
            }
            throw $error;
        }
    }

    /**
     * Adds a product and, if the customer opted in, its plan: the plan line carries the
     * protected product's id as custom_properties.product_reference (guide). Answers the
     * product line's id.
     *
     * @param array<string, mixed>|null $plan one of productPage()'s plans
     */
    public function add(Product $product, int $quantity = 1, ?array $plan = null): string
    {
        $id = $this->nextId();
        $this->lines[] = [
            'id' => $id,
            'quantity' => $quantity,
            'price_amount' => $product->priceAmount,
            'product_id' => $product->id,
            'product_title' => $product->title,
            'product_brand' => $product->brand,
        ];
        if ($plan !== null) {
            $this->lines[] = [
                'id' => $this->nextId(),
                'quantity' => $quantity,
                'price_amount' => $plan['price_amount'],
                'product_id' => $plan['merchant_product_id'],
                'product_title' => (string) reset($plan['title']),
                'product_brand' => 'Hakuna',
                'custom_properties' => ['product_reference' => $product->id],
            ];
        }
        $this->sync();
        return $id;
    }

    public function changeQuantity(string $lineId, int $quantity): void
    {
        $this->lines[$this->position($lineId)]['quantity'] = $quantity;
        $this->sync();
    }

    public function remove(string $lineId): void
    {
        array_splice($this->lines, $this->position($lineId), 1);
        $this->sync();
    }

    /** Sends the whole cart and carries out the actions Hakuna answers, until none remain. */
    public function sync(int $maxRounds = 5): void
    {
        for ($round = 0; $round < $maxRounds; $round++) {
            $answer = $this->hakuna->updateCart([
                'cart_id' => $this->cartId,
                'user_session_id' => $this->userSessionId,
                'cart_currency' => $this->currency,
                'line_items' => $this->lines,
            ]);
            if ($answer['actions'] === []) {
                return;
            }
            foreach ($answer['actions'] as $action) {
                $lineId = $action['payload']['line_item_id'];
                if ($action['type'] === 'update_line_item') {
                    if (!isset($action['payload']['line_item_quantity'])) {
                        throw new \UnexpectedValueException("update_line_item for {$lineId} without line_item_quantity");
                    }
                    $this->lines[$this->position($lineId)]['quantity'] = $action['payload']['line_item_quantity'];
                } elseif ($action['type'] === 'remove_line_item') {
                    array_splice($this->lines, $this->position($lineId), 1);
                } else {
                    throw new \UnexpectedValueException("an action this shop does not know: {$action['type']}");
                }
            }
        }
        throw new \RuntimeException("cart {$this->cartId} still had actions after {$maxRounds} rounds");
    }

    /** @return list<array{product_line_item_id: string, plan_line_item_id: string}> which plan line protects which product line */
    public function connections(): array
    {
        return $this->hakuna->cartConnections($this->cartId, $this->userSessionId)['plan_connections'];
    }

    /** @return array<string, mixed> */
    public function checkOut(string $orderId): array
    {
        return $this->hakuna->checkOut(['cart_id' => $this->cartId, 'user_session_id' => $this->userSessionId, 'order_id' => $orderId]);
    }

    private function position(string $lineId): int
    {
        foreach ($this->lines as $i => $line) {
            if ($line['id'] === $lineId) {
                return $i;
            }
        }
        throw new \OutOfBoundsException("no line {$lineId} in cart {$this->cartId}");
    }

    private function nextId(): string
    {
        return $this->cartId . '-line-' . ++$this->numbers;
    }
}
