<?php

declare(strict_types=1);

namespace HakunaShop;

/** A product of the shop's own catalog; prices in cents. */
final class Product
{
    public function __construct(
        public readonly string $id,
        public readonly string $category,
        public readonly string $title,
        public readonly string $brand,
        public readonly int $priceAmount,
    ) {
    }
}
