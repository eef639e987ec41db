<?php

declare(strict_types=1);

use HakunaShop\Erp;
use HakunaShop\HakunaClient;
use HakunaShop\Product;
use HakunaShop\SimulatorControls;
use HakunaShop\Storefront;
use PHPUnit\Framework\TestCase;

/**
 * The guide's whole loop against a running simulator (HAKUNA_BASE_URL). Each test runs on
 * a key of its own, reset through the simulator's control API, and ends by asking the
 * simulator's conformance report: any finding fails it. With HAKUNA_API_KEY set, every
 * test shares that key (as the CI recipes do, to publish one report).
 */
final class FlowsTest extends TestCase
{
    private HakunaClient $hakuna;
    private SimulatorControls $controls;
    private string $run;

    protected function setUp(): void
    {
        $baseUrl = getenv('HAKUNA_BASE_URL') ?: 'http://127.0.0.1:8765/sandbox';
        $shared = getenv('HAKUNA_API_KEY');
        $key = $shared ?: 'sk_test_php' . bin2hex(random_bytes(8));
        $this->hakuna = new HakunaClient($baseUrl, $key);
        $this->controls = new SimulatorControls($baseUrl, $key);
        if (!$shared) {
            $this->controls->reset();
        }
        $this->run = bin2hex(random_bytes(4));
    }

    protected function tearDown(): void
    {
        $this->controls->setFaults([]);
        $findings = $this->controls->report()['findings'];
        self::assertSame([], $findings, json_encode($findings, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES));
    }

    private static function iphone(): Product
    {
        return new Product('prd-iphone14', 'smartphones', 'iPhone 14', 'Apple', 112900);
    }

    private static function phoneCase(): Product
    {
        return new Product('prd-bb-32', 'accessories', 'Silikon Case iPhone 14', 'Apple', 1200);
    }

    private function shop(string $name): Storefront
    {
        return new Storefront($this->hakuna, "cart-{$name}-{$this->run}", "session-{$name}-{$this->run}");
    }

    /** @return array{Storefront, string, string} the shop, the phone's line, the order id */
    private function orderedPhoneWithPlan(string $name): array
    {
        $shop = $this->shop($name);
        [$plan] = $shop->productPage(self::iphone());
        $phone = $shop->add(self::iphone(), 1, $plan);
        $orderId = "ord-{$name}-{$this->run}";
        $shop->checkOut($orderId);
        (new Erp($this->hakuna))->placed($orderId, $shop->lines, $shop->cartId);
        return [$shop, $phone, $orderId];
    }

    /** @return list<string> */
    private function protectionStatuses(string $orderId): array
    {
        return array_column($this->hakuna->order($orderId)['protections'], 'status');
    }

    public function testTheProductPageOffersThePlanAndACaseGetsNone(): void
    {
        $shop = $this->shop('page');
        $plans = $shop->productPage(self::iphone());
        self::assertNotEmpty($plans);
        self::assertSame('prd-iphone14', $plans[0]['product_reference']);
        self::assertSame([], $shop->productPage(self::phoneCase()));
    }

    public function testThePlanFollowsItsProductsQuantityAndLeavesWithIt(): void
    {
        $shop = $this->shop('quantity');
        [$plan] = $shop->productPage(self::iphone());
        $phone = $shop->add(self::iphone(), 1, $plan);
        $shop->add(self::phoneCase());
        $connections = $shop->connections();
        self::assertCount(1, $connections);
        self::assertSame($phone, $connections[0]['product_line_item_id']);

        $shop->changeQuantity($phone, 2);
        $planLine = array_values(array_filter($shop->lines, fn (array $l) => $l['id'] === $connections[0]['plan_line_item_id']));
        self::assertSame(2, $planLine[0]['quantity'], 'Hakuna asked to raise the plan to the product\'s quantity');

        $shop->remove($phone);
        self::assertSame(['prd-bb-32'], array_column($shop->lines, 'product_id'), 'the plan left with its product');
    }

    public function testAnOrderIsShippedAndReturnedWithItsPlan(): void
    {
        [, $phone, $orderId] = $this->orderedPhoneWithPlan('order');
        $erp = new Erp($this->hakuna);
        self::assertCount(1, $this->hakuna->orderConnections($orderId)['plan_connections']);
        $erp->fulfilled($orderId, [$phone => 1]);
        self::assertSame(['active'], $this->protectionStatuses($orderId));
        $erp->refunded($orderId, [$phone => 1]);
        self::assertSame(['refunded'], $this->protectionStatuses($orderId));
    }

    public function testAPlanGivenBackAloneIsRefundedOnItsOwn(): void
    {
        [, $phone, $orderId] = $this->orderedPhoneWithPlan('plan-alone');
        $erp = new Erp($this->hakuna);
        $erp->fulfilled($orderId, [$phone => 1]);
        $planLine = $this->hakuna->orderConnections($orderId)['plan_connections'][0]['plan_line_item_id'];
        $erp->planRefunded($orderId, $planLine);
        self::assertSame(['refunded'], $this->protectionStatuses($orderId));
    }

    public function testACancellationBeforeShippingCancelsTheProtection(): void
    {
        [, , $orderId] = $this->orderedPhoneWithPlan('cancel');
        (new Erp($this->hakuna))->cancelled($orderId);
        self::assertSame(['cancelled'], $this->protectionStatuses($orderId));
    }

    public function testALostAnswerIsRetriedWithItsKeyAndA429WaitedOut(): void
    {
        $shop = $this->shop('faults');
        [$plan] = $shop->productPage(self::iphone());
        $shop->add(self::iphone(), 1, $plan);
        $orderId = "ord-faults-{$this->run}";
        $shop->checkOut($orderId);
        $this->controls->setFaults([
            ['route' => '/sandbox/events', 'status' => 503, 'count' => 1, 'when' => 'after'],
            ['route' => '/sandbox/orders/*', 'method' => 'GET', 'status' => 429, 'count' => 1, 'retry_after' => 1],
        ]);
        (new Erp($this->hakuna))->placed($orderId, $shop->lines, $shop->cartId);
        $started = microtime(true);
        self::assertCount(2, $this->hakuna->order($orderId)['line_items'], 'placed once, though its first answer was lost');
        self::assertGreaterThanOrEqual(1.0, microtime(true) - $started, 'the client waited as long as Retry-After said');
    }

    /** With one key for the whole run, the run must have exercised every path go-live asks for. */
    public function testZzGoLiveReadinessOfTheRunsKey(): void
    {
        if (!getenv('HAKUNA_API_KEY')) {
            self::markTestSkipped('a key per test: set HAKUNA_API_KEY to judge a whole run');
        }
        $readiness = $this->controls->report()['readiness'];
        self::assertTrue($readiness['ready'], 'missing: ' . implode(', ', $readiness['missing']));
    }
}
