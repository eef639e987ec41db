<?php

declare(strict_types=1);

namespace HakunaShop;

/**
 * Hakuna's API over ext-curl and ext-json, nothing else: point it at the simulator in
 * development (http://127.0.0.1:8765/sandbox) and at Hakuna's sandbox before go-live;
 * only the base URL and the key change.
 *
 * Every POST carries a Hakuna-Idempotency-Key, kept for its retries: a 429 is retried
 * after its Retry-After, a 5xx or a lost connection after a short backoff, so a retry
 * after a lost answer is answered as a replay instead of applying the change twice.
 */
final class HakunaClient
{
    public const VERSION = 'v2.0';

    private readonly string $baseUrl;

    public function __construct(string $baseUrl, private readonly string $apiKey, private readonly int $attempts = 4)
    {
        $this->baseUrl = rtrim($baseUrl, '/');
    }

    /** @param array<string, string|int> $query @return array<string, mixed> */
    public function lookUpPlans(array $query): array
    {
        return $this->call('GET', '/plans?' . http_build_query($query));
    }

    /** @param array<string, mixed> $cart @return array<string, mixed> */
    public function updateCart(array $cart): array
    {
        return $this->call('POST', '/carts', $cart);
    }

    /** @return array<string, mixed> */
    public function cartConnections(string $cartId, string $userSessionId): array
    {
        $query = http_build_query(['user_session_id' => $userSessionId]);
        return $this->call('GET', '/carts/' . rawurlencode($cartId) . '/plan_connections?' . $query);
    }

    /** @param array<string, string> $checkout @return array<string, mixed> */
    public function checkOut(array $checkout): array
    {
        return $this->call('POST', '/checkouts', $checkout);
    }

    /** @param array<string, mixed> $event @return array<string, mixed> */
    public function publishEvent(array $event): array
    {
        return $this->call('POST', '/events', $event);
    }

    /** @return array<string, mixed> */
    public function order(string $orderId): array
    {
        return $this->call('GET', '/orders/' . rawurlencode($orderId));
    }

    /** @return array<string, mixed> */
    public function orderConnections(string $orderId): array
    {
        return $this->call('GET', '/orders/' . rawurlencode($orderId) . '/plan_connections');
    }

    /**
     * @param array<string, mixed>|null $body
     * @return array<string, mixed>
     */
    private function call(string $method, string $path, ?array $body = null): array
    {
        $headers = ["Authorization: Bearer {$this->apiKey}", 'Hakuna-Version: ' . self::VERSION, 'Accept: application/json'];
        $content = null;
        if ($body !== null) {
            $content = json_encode($body, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
            $headers[] = 'Content-Type: application/json';
            $headers[] = 'Hakuna-Idempotency-Key: ' . self::uuid4();
        }
        for ($attempt = 1; ; $attempt++) {
            [$status, $retryAfter, $answer] = $this->send($method, $path, $headers, $content);
            $retryable = $status === 0 || $status === 429 || $status >= 500;
            if (!$retryable || $attempt >= $this->attempts) {
                break;
            }
            // Never sooner than Retry-After; otherwise a short, growing backoff.
            usleep((int) (max($retryAfter, 0.1 * 2 ** ($attempt - 1)) * 1_000_000));
        }
        if ($status === 0) {
            throw new \RuntimeException("{$method} {$path}: no answer from {$this->baseUrl}");
        }
        $decoded = json_decode($answer, true, 512, JSON_THROW_ON_ERROR);
        if ($status !== 200) {
            $error = $decoded['error'] ?? [];
            throw new HakunaError($status, (string) ($error['error_code'] ?? 'unknown'), $error['validation_errors'] ?? []);
        }
        return $decoded;
    }

    /**
     * @param list<string> $headers
     * @return array{int, float, string} status (0: no answer), Retry-After seconds, body
     */
    private function send(string $method, string $path, array $headers, ?string $content): array
    {
        $retryAfter = 0.0;
        $curl = curl_init($this->baseUrl . $path);
        curl_setopt_array($curl, [
            CURLOPT_CUSTOMREQUEST => $method,
            CURLOPT_HTTPHEADER => $headers,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_TIMEOUT => 30,
            CURLOPT_HEADERFUNCTION => static function ($curl, string $line) use (&$retryAfter): int {
                if (stripos($line, 'retry-after:') === 0) {
                    $retryAfter = (float) trim(substr($line, strlen('retry-after:')));
                }
                return strlen($line);
            },
        ]);
        if ($content !== null) {
            curl_setopt($curl, CURLOPT_POSTFIELDS, $content);
        }
        $answer = curl_exec($curl);
        $status = $answer === false ? 0 : (int) curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
        curl_close($curl);
        return [$status, $retryAfter, $answer === false ? '' : (string) $answer];
    }

    private static function uuid4(): string
    {
        $bytes = random_bytes(16);
        $bytes[6] = chr((ord($bytes[6]) & 0x0f) | 0x40);
        $bytes[8] = chr((ord($bytes[8]) & 0x3f) | 0x80);
        return vsprintf('%s%s-%s-%s-%s-%s%s%s', str_split(bin2hex($bytes), 4));
    }
}
