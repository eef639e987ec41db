<?php

declare(strict_types=1);

// No Composer needed: the shop's classes are loaded from src/ by name.
spl_autoload_register(static function (string $class): void {
    $prefix = 'HakunaShop\\';
    if (str_starts_with($class, $prefix)) {
        require __DIR__ . '/../src/' . substr($class, strlen($prefix)) . '.php';
    }
});
