"""DynamoDB queries that read only the partition they ask for.

The sandbox's DynamoDB is moto's, in LocalStack's process. moto answers every
``Query`` by listing and sorting every item of the table, then keeping those of
the asked partition key: a query costs the whole table, not the partition. The
event ledger is read as 65 partition queries per poll (the run's shards), and a
probe polls every few seconds while the app writes, so under load the sandbox
spent most of its CPU sorting the ledger table over and over (a py-spy profile
of 4,000 orders through the reference app: ~40% of the time the GIL was held,
in moto's ``Table.all_items`` and its sort key).

The patch narrows what a query looks at, without changing what it answers:

- a query on the table's key reads the one partition (``Table.items[hash]``);
  moto then sorts it by range key and pages it as before;
- a query on an index skips the sort of the whole table (moto sorts the
  matching items by the index's key, then the table's, which is a total order).

Scans, pagination, filters, projections and every error are moto's own. Reading
the items no longer fails when a write adds a partition meanwhile (moto iterated
its live dict: ``DescribeTable`` or ``Scan`` answered 500 under concurrent writes).

moto's dispatch also listed its response class's methods with ``inspect.getmembers``
on every request, to check the action is one of them (2% of LocalStack's CPU with
the reference app's orders): the list is now made once per class.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from localstack.utils.patch import Patch

from .patching import replace, wrap

_QUERY = threading.local()
_ALL = object()  # an index query: every item, in any order


def query(original: Any, self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    """Run moto's query with ``all_items`` narrowed to what this query can match."""
    index_name = kwargs.get("index_name") if "index_name" in kwargs else _positional_index(args)
    _QUERY.scope = (self, _ALL if index_name else hash_key)
    try:
        return original(self, hash_key, *args, **kwargs)
    finally:
        _QUERY.scope = None


def _positional_index(args: tuple[Any, ...]) -> Any:
    # query(hash_key, range_comparison, range_objs, limit, exclusive_start_key,
    #       scan_index_forward, projection_expressions, index_name=None, ...)
    return args[6] if len(args) > 6 else None


def _items(table: Any) -> list[Any]:
    # list() copies in one step: moto iterated the live dicts, so a write adding a
    # partition meanwhile failed the read ("dictionary changed size during iteration",
    # a 500 InternalError to the client).
    items: list[Any] = []
    for value in list(table.items.values()):
        items.extend(list(value.values()) if table.range_key_attr else [value])
    return items


def all_items(original: Any, self: Any) -> list[Any]:
    """moto's ``all_items``, or, inside a query of this table, only what it can match."""
    scope = getattr(_QUERY, "scope", None)
    if scope is None or scope[0] is not self:
        return sorted(
            _items(self),
            key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key,
        )
    _QUERY.scope = None  # once per query; anything nested sees moto's own
    wanted = scope[1]
    if wanted is _ALL:
        return _items(self)
    partition = self.items.get(wanted)
    if partition is None:
        return []
    if not self.range_key_attr:
        return [partition]
    return sorted(list(partition.values()), key=lambda item: item.range_key)


def length(original: Any, self: Any) -> int:
    """moto's ``len(table)`` (``ItemCount``), safe against concurrent writes."""
    return sum(len(v) if self.has_range_key else 1 for v in list(self.items.values()))


def patches() -> list[Patch]:
    """The DynamoDB query patches, and moto's method names listed once per class."""
    from moto.core import responses
    from moto.dynamodb.models.table import Table

    return [
        wrap(Table, "query", query),
        wrap(Table, "all_items", all_items),
        wrap(Table, "__len__", length),
        replace(
            responses,
            "method_names_from_class",
            functools.cache(responses.method_names_from_class),
        ),
    ]
