"""The harness version and the benchmark protocol version (bump it only deliberately: see DESIGN.md)."""

__version__ = "0.1.0"
PROTOCOL_VERSION = "1.0"
