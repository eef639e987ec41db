<?php
// The guide's cart loop through the PHP client openapi-generator made from the served
// document: `php cart_loop.php CLIENT_DIR BASE_URL API_KEY`. It follows every cart action
// by what the generated models kept of it, and exits non-zero at the first answer that
// is not the guide's.
declare(strict_types=1);

[$script, $clientDir, $baseUrl, $apiKey] = $argv;
require_once 'GuzzleHttp/autoload.php';  // Debian's php-guzzlehttp-guzzle
spl_autoload_register(function (string $class) use ($clientDir): void {
    $prefix = 'Hakuna\\Client\\';
    if (str_starts_with($class, $prefix)) {
        $path = $clientDir . '/lib/' . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
        if (is_file($path)) {
            require $path;
        }
    }
});

use Hakuna\Client\Configuration;
use Hakuna\Client\Api\StorefrontApi;
use Hakuna\Client\Api\ErpApi;

function fail(string $why): never
{
    fwrite(STDERR, $why . "\n");
    exit(1);
}

$config = Configuration::getDefaultConfiguration()->setHost($baseUrl)->setAccessToken($apiKey);
$storefront = new StorefrontApi(new GuzzleHttp\Client(), $config);
$erp = new ErpApi(new GuzzleHttp\Client(), $config);
$session = 'sess-php-' . bin2hex(random_bytes(4));
$cartId = 'cart-php-' . bin2hex(random_bytes(4));

// Product page: the plan Hakuna offers for the phone.
$offer = $storefront->lookUpPlans('prd-iphone14', 'smartphones', 112900, 'eur', $session, 'v2.0', 'iPhone 14', 'Apple');
$plan = $offer->getPlans()[0];

// The cart: two phones, but the plan line says one; then a line that protects nothing.
$lines = [
    ['id' => 'phone', 'quantity' => 2, 'price_amount' => 112900, 'product_id' => 'prd-iphone14'],
    ['id' => 'plan', 'quantity' => 1, 'price_amount' => $plan->getPriceAmount(), 'product_id' => $plan->getMerchantProductId(),
     'custom_properties' => ['product_reference' => 'prd-iphone14']],
    ['id' => 'stray', 'quantity' => 1, 'price_amount' => $plan->getPriceAmount(), 'product_id' => $plan->getMerchantProductId(),
     'custom_properties' => ['product_reference' => 'prd-not-in-cart']],
];
$seen = [];
for ($round = 0; $round < 5; $round++) {
    $answer = $storefront->updateCart(['cart_id' => $cartId, 'user_session_id' => $session, 'cart_currency' => 'eur',
                                       'line_items' => array_values($lines)], 'v2.0', 'cart-' . $round . '-' . $cartId);
    $actions = $answer->getActions();
    if (count($actions) === 0) {
        break;
    }
    foreach ($actions as $action) {
        $type = $action->getType();
        $payload = $action->getPayload();
        $lineId = $payload->getLineItemId();
        $seen[] = $type;
        $index = array_search($lineId, array_column($lines, 'id'), true);
        if ($index === false) {
            fail("an action for an unknown line $lineId");
        }
        if ($type === 'update_line_item') {
            if (!method_exists($payload, 'getLineItemQuantity') || $payload->getLineItemQuantity() === null) {
                fail('update_line_item lost its line_item_quantity: ' . json_encode(json_decode((string) $action)));
            }
            $lines[$index]['quantity'] = $payload->getLineItemQuantity();
        } elseif ($type === 'remove_line_item') {
            unset($lines[$index]);
            $lines = array_values($lines);
        } else {
            fail("unknown action $type");
        }
    }
}
sort($seen);
if ($seen !== ['remove_line_item', 'update_line_item'] || count($actions) !== 0) {
    fail('the cart did not converge as the guide says: ' . json_encode($seen));
}

// The cart's connections, the checkout and the order.
$connections = $storefront->cartPlanConnections($cartId, $session, 'v2.0')->getPlanConnections();
if (count($connections) !== 1 || $connections[0]->getPlanLineItemId() !== 'plan') {
    fail('the plan is not connected to the phone');
}
$orderId = 'ord-' . $cartId;
$storefront->checkOut(['cart_id' => $cartId, 'user_session_id' => $session, 'order_id' => $orderId], 'v2.0', 'co-' . $cartId);
$erp->publishEvent(['type' => 'order_placed', 'payload' => [
    'order_id' => $orderId, 'placed_at' => '2022-02-20T00:00:00.000Z', 'order_currency' => 'eur', 'cart_id' => $cartId,
    'customer' => ['first_name' => 'Max', 'last_name' => 'Mustermann', 'email' => 'max.mustermann@example.com'],
    'customer_billing_address' => ['address_line_1' => 'Musterstrasse', 'city' => 'Musterstadt', 'country' => 'de', 'zip' => '123456'],
    'line_items' => array_values($lines)]], 'v2.0', 'op-' . $cartId);
$order = $erp->getOrder($orderId, 'v2.0');
if (count($order->getProtections()) !== 2) {
    fail('the order has ' . count($order->getProtections()) . ' protections, not 2');
}
echo "cart loop ok\n";
