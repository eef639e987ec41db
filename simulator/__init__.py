"""hakuna-sim: a stateful fake of the Hakuna product-protection API."""

__version__ = "0.1.0"
