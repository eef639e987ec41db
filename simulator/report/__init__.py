"""The conformance report: its rules, how it is rendered, and how two answers are compared
(parity)."""
