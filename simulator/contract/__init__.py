"""The published contract: the schema files, validating requests against them, the served
OpenAPI document, query strings and body shapes, and catalog documents."""
