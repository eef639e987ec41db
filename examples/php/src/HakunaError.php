<?php

declare(strict_types=1);

namespace HakunaShop;

/** A refusal, in the API's error body: `errorCode` says which rule, `validationErrors` why. */
final class HakunaError extends \RuntimeException
{
    /** @param list<string> $validationErrors */
    public function __construct(
        public readonly int $status,
        public readonly string $errorCode,
        public readonly array $validationErrors,
    ) {
        parent::__construct("{$status} {$errorCode}: " . implode('; ', $validationErrors));
    }
}
