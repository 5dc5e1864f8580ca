"""The ``.hx`` spec language: grammar, parser, resolver and formatter."""
