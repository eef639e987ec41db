"""The command line: `hakuna-sim` and its commands."""
