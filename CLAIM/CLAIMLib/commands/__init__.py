"""The `claim` subcommands: each reads its arguments, calls the library, and writes its outputs."""
