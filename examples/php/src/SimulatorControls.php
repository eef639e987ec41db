<?php

declare(strict_types=1);

namespace HakunaShop;

/**
 * The simulator's own routes (/__sim, documented at GET /__sim/openapi.json): not part of
 * Hakuna's API, for tests only. Each key is its own sandbox; reset() empties it.
 */
final class SimulatorControls
{
    private readonly string $root;

    public function __construct(string $baseUrl, private readonly string $apiKey)
    {
        $this->root = preg_replace('#/sandbox/?$#', '', rtrim($baseUrl, '/'));
    }

    public function reset(): void
    {
        $this->call('POST', '/__sim/reset');
    }

    /** @param list<array<string, mixed>> $rules as PUT /__sim/faults takes them */
    public function setFaults(array $rules): void
    {
        $this->call('PUT', '/__sim/faults', ['faults' => $rules]);
    }

    /** @return array<string, mixed> the conformance report, with its readiness checklist */
    public function report(): array
    {
        return $this->call('GET', '/__sim/report');
    }

    /**
     * @param array<string, mixed>|null $body
     * @return array<string, mixed>
     */
    private function call(string $method, string $path, ?array $body = null): array
    {
        $curl = curl_init($this->root . $path);
        $headers = ["Authorization: Bearer {$this->apiKey}", 'Hakuna-Version: ' . HakunaClient::VERSION];
        curl_setopt_array($curl, [CURLOPT_CUSTOMREQUEST => $method, CURLOPT_RETURNTRANSFER => true, CURLOPT_TIMEOUT => 30]);
        if ($body !== null) {
            $headers[] = 'Content-Type: application/json';
            curl_setopt($curl, CURLOPT_POSTFIELDS, json_encode($body, JSON_THROW_ON_ERROR));
        }
        curl_setopt($curl, CURLOPT_HTTPHEADER, $headers);
        $answer = curl_exec($curl);
        $status = (int) curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
        curl_close($curl);
        if ($answer === false || $status !== 200) {
            throw new \RuntimeException("{$method} {$this->root}{$path} answered {$status}: " . ($answer === false ? 'no answer' : $answer));
        }
        return json_decode((string) $answer, true, 512, JSON_THROW_ON_ERROR);
    }
}
