"""The event ledger: where every traced event went.

``trace`` and ``records`` are standard library only, because the Lambda layer
imports them; runner-side code (table creation, queries) lives beside them.
"""
