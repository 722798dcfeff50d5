"""The list language: filters, order, select, distinct, limit, offset, count.

Evaluated in Python over in-memory records (see store.py). Semantics
follow Arvados' ``record_filters.rb``: NULLs never match comparisons,
``!=`` and ``not in`` with non-null operands also match NULL, integer
columns coerce string operands (the poll client sends ``["id",">","42"]``),
timestamps compare as times, strings compare by code point (== UTF-8 byte
order), and ``order`` uses the very same ordering so keyset paging works.

A query can span several kinds (``groups.contents``): attributes may then
be table-qualified (``collections.name``) and apply to that table only.
Every error is a :class:`QueryError` (the API answers 422).
"""

import functools
import json
import re

from . import records
from .records import KINDS, STR, INT, BOOL, TIME, JSON, ARRAY

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
_TRUE = ("true", "t", "1", "yes", "y")
_FALSE = ("false", "f", "0", "no", "n", "")
OPERATORS = ("=", "!=", "<>", "<", "<=", ">", ">=", "like", "ilike", "not like", "not ilike",
             "in", "not in", "is_a", "exists", "contains")


class QueryError(ValueError):
    pass


# An expression filter compares two columns of the same record: the string
# "(created_at < modified_at)" as one element of the filters list (as the
# Python SDK's validate_filters accepts it), or the array form Arvados'
# controller turns it into, ["(created_at < modified_at)", "=", true].
_EXPRESSION = re.compile(r"^ *\( *(\w+) *(<=?|>=?|=) *(\w+) *\) *$")


_parse_ts = functools.lru_cache(maxsize=200000)(records.parse_ts)


def _coerce(ftype, value, what):
    """Operand -> comparable value of the column's type (None stays None)."""
    if value is None:
        return None
    if ftype == INT:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, (int, float)):
            return value
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            return int(value)
        raise QueryError("Invalid operand %r for integer attribute %s" % (value, what))
    if ftype == BOOL:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
            return value.lower() in _TRUE
        if isinstance(value, int):
            return bool(value)
        raise QueryError("Invalid operand %r for boolean attribute %s" % (value, what))
    if ftype == TIME:
        ts = _parse_ts(value) if isinstance(value, str) else None
        if ts is None:
            raise QueryError("Invalid operand %r for datetime attribute %s" % (value, what))
        return ts
    if ftype == STR:
        if isinstance(value, (dict, list)):
            raise QueryError("Invalid operand type for attribute %s" % what)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)
    return value


def _column_value(ftype, value):
    """Record value -> comparable value of the column's type."""
    if value is None:
        return None
    if ftype == TIME:
        return _parse_ts(value)
    return value


def like_regex(pattern, ignore_case=False):
    """An SQL LIKE pattern (`%`, `_`, `\\` escapes) as a compiled regular
    expression (also what tests/fakes.py matches names with)."""
    if not isinstance(pattern, str):
        raise QueryError("Invalid operand type for like/ilike: %r" % (pattern,))
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z", re.S | (re.I if ignore_case else 0))


def _kinds_list(operand):
    kinds = operand if isinstance(operand, list) else [operand]
    out = []
    for k in kinds:
        if not isinstance(k, str):
            raise QueryError("Invalid operand for is_a: %r" % (k,))
        kd = records.kind_by_name(k)
        if kd is None and k.startswith("arvados#"):
            out.append(None)    # a kind this cluster does not have: matches nothing
            continue
        if kd is None:
            raise QueryError("Invalid kind for is_a: %r" % k)
        out.append(kd)
    return out


def _resolve_attr(attr, kind):
    """(getter, field type) for attr on kind, or None if kind lacks it."""
    if attr in kind.fields:
        return (lambda rec: rec.get(attr)), kind.fields[attr]
    if "." in attr:
        col, sub = attr.split(".", 1)
        if kind.fields.get(col) == JSON:
            if sub.startswith("<") and sub.endswith(">"):
                sub = sub[1:-1]
            return (lambda rec: (rec.get(col) or {}).get(sub)), "subproperty"
    return None


def _split_table(attr):
    """("collections.name") -> ("collections", "name"); otherwise (None, attr).

    An unknown prefix stays part of the attribute (``properties.key`` is a
    subproperty; anything else then fails as an unknown attribute).
    """
    if "." in attr:
        prefix, rest = attr.split(".", 1)
        if prefix in KINDS:
            return prefix, rest
    return None, attr


def parse_filters(filters, where=None):
    """Check the shape of a filters value; fold ``where`` into it."""
    if filters is None:
        filters = []
    if not isinstance(filters, list):
        raise QueryError("filters must be an array")
    out = []
    for f in filters:
        if isinstance(f, str):
            if not _EXPRESSION.match(f):
                raise QueryError("Invalid filter %r: expected \"(attribute op attribute)\"" % (f,))
            f = [f, "=", True]
        if not isinstance(f, list) or len(f) != 3:
            raise QueryError("Invalid filter %r: expected [attribute, operator, operand]" % (f,))
        attr, op, operand = f
        if not isinstance(op, str) or op.lower() not in OPERATORS:
            raise QueryError("Invalid operator %r" % (op,))
        if not isinstance(attr, (str, list)):
            raise QueryError("Invalid attribute %r" % (attr,))
        out.append([attr, op.lower(), operand])
    if where:
        if not isinstance(where, dict):
            raise QueryError("where must be an object")
        for attr, val in where.items():
            out.append([attr, "in" if isinstance(val, list) else "=", val])
    return out


def compile_filter(f, kind):
    """Predicate for one filter on one kind; None if the attribute is absent there."""
    attr, op, operand = f
    if isinstance(attr, list):      # OR across attributes
        preds = [compile_filter([a, op, operand], kind) for a in attr]
        preds = [p for p in preds if p]
        return (lambda rec: any(p(rec) for p in preds)) if preds else None
    if attr == "any":
        if op not in ("like", "ilike"):
            raise QueryError("Only like/ilike are supported with 'any'")
        rx = like_regex(operand, op == "ilike")
        cols = [c for c, t in kind.fields.items() if t == STR]
        return lambda rec: any(isinstance(rec.get(c), str) and rx.match(rec[c]) for c in cols)
    expression = _EXPRESSION.match(attr)
    if expression:
        return _compile_expression(expression, op, operand, kind)
    resolved = _resolve_attr(attr, kind)
    if resolved is None:
        return None
    get, ftype = resolved
    col_type = STR if ftype == "subproperty" else ftype

    if op == "is_a":
        kinds = _kinds_list(operand)
        if attr == "uuid":
            return lambda rec: any(k is not None and rec["kind"] == k.kind for k in kinds)
        infixes = [k.infix for k in kinds if k is not None]
        return lambda rec: isinstance(get(rec), str) and get(rec)[6:11] in infixes
    if op == "exists":
        if ftype == JSON:
            if not isinstance(operand, str):
                raise QueryError("Invalid operand for exists on %s" % attr)
            return lambda rec: operand in (get(rec) if isinstance(get(rec), dict) else {})
        if ftype == "subproperty":
            col, sub = attr.split(".", 1)
            sub = sub[1:-1] if sub.startswith("<") and sub.endswith(">") else sub
            want = _coerce(BOOL, operand, attr)
            return lambda rec: (sub in (rec.get(col) or {})) == want
        raise QueryError("Invalid attribute %r for exists" % attr)
    if op == "contains":
        vals = operand if isinstance(operand, list) else [operand]
        if not vals or not all(isinstance(v, str) for v in vals):
            raise QueryError("Invalid operand for contains")

        def contains(rec):
            v = get(rec)
            if isinstance(v, list):
                return all(x in v for x in vals)
            return len(vals) == 1 and v == vals[0]
        return contains
    if ftype in (JSON, ARRAY) and op not in ("=", "!=", "<>", "in", "not in"):
        raise QueryError("Invalid operator %r for attribute %s" % (op, attr))
    if ftype == "subproperty":
        def coerce(v, _w):      # subproperties compare as whatever JSON holds
            return v
        col_type = None
    else:
        coerce = functools.partial(_coerce, col_type)

    def value(rec):
        return _column_value(col_type, get(rec)) if col_type else get(rec)

    if op in ("in", "not in"):
        if not isinstance(operand, list):
            raise QueryError("Invalid operand type %r for %s" % (type(operand).__name__, op))
        vals = [coerce(v, attr) for v in operand]
        has_null = None in vals
        valset = [v for v in vals if v is not None]
        if op == "in":
            return lambda rec: (lambda v: v in valset if v is not None else has_null)(value(rec))
        return lambda rec: (lambda v: v not in valset if v is not None else not has_null)(value(rec))
    if op in ("like", "ilike", "not like", "not ilike"):
        rx = like_regex(operand, "ilike" in op)
        neg = op.startswith("not")
        return lambda rec: (lambda v: isinstance(v, str) and bool(rx.match(v)) != neg)(value(rec))
    want = coerce(operand, attr) if not isinstance(operand, (dict, list)) or ftype in (JSON, ARRAY) \
        else None
    if isinstance(operand, (dict, list)) and ftype not in (JSON, ARRAY):
        raise QueryError("Invalid operand type for %s %s" % (attr, op))
    if op == "=":
        return lambda rec: value(rec) is None if want is None else value(rec) == want
    if op in ("!=", "<>"):
        return lambda rec: value(rec) is not None if want is None else value(rec) != want
    if want is None:
        raise QueryError("Invalid operand null for %s" % op)
    cmp = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
           ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}[op]

    def compare(rec):
        v = value(rec)
        if v is None:
            return False
        try:
            return cmp(v, want)
        except TypeError:   # e.g. a subproperty holding a number vs a string
            return False
    return compare


_COMPARE = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, "=": lambda a, b: a == b,
            ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def _compile_expression(expression, op, operand, kind):
    """Predicate for "(attr1 op attr2)"; None if kind lacks an attribute.
    Both attributes must be integers or both timestamps (real Arvados
    allows integers only); NULL on either side never matches."""
    if op != "=" or operand not in (True, "true"):
        raise QueryError("Invalid expression filter %r: subsequent elements must be [\"=\", true]"
                         % expression.group(0))
    left, cmp_op, right = expression.groups()
    sides = [_resolve_attr(a, kind) for a in (left, right)]
    if None in sides:
        return None
    (get_l, type_l), (get_r, type_r) = sides
    if type_l != type_r or type_l not in (INT, TIME):
        raise QueryError("Invalid expression filter %r: both attributes must be integers or both timestamps"
                         % expression.group(0))
    compare = _COMPARE[cmp_op]

    def pred(rec):
        a, b = _column_value(type_l, get_l(rec)), _column_value(type_r, get_r(rec))
        return a is not None and b is not None and compare(a, b)
    return pred


def compile_filters(filters, kind, tables=None):
    """All-filters predicate for records of ``kind``, or None if ``kind``
    cannot satisfy them (a filter attribute it lacks, or a filter
    qualified for another table that is not this one... which is skipped).

    ``tables``: the tables queried together (groups.contents); when given,
    filters qualified with another table's name are skipped for this kind.
    """
    preds = []
    for f in filters:
        attr = f[0]
        if isinstance(attr, str):
            table, bare = _split_table(attr)
            if table is not None:
                if tables is None and table != kind.table:
                    raise QueryError("Invalid attribute %r for %s" % (attr, kind.table))
                if table != kind.table:
                    continue
                f = [bare, f[1], f[2]]
        p = compile_filter(f, kind)
        if p is None:
            return None
        preds.append(p)
    return lambda rec: all(p(rec) for p in preds)


def check_filters(filters, kinds):
    """Raise QueryError unless at least one kind accepts every filter."""
    tables = [k.table for k in kinds] if len(kinds) > 1 else None
    ok = [k for k in kinds if compile_filters(filters, k, tables) is not None]
    if not ok:
        bad = filters[0][0] if filters else "?"
        for f in filters:
            if all(compile_filters([f], k, tables) is None for k in kinds):
                bad = f[0]
                break
        raise QueryError("Invalid attribute %r in filters" % (bad,))


def parse_order(order):
    """order param -> [(table or None, attr, desc)]; comma strings accepted."""
    if order is None or order == "":
        return []
    if isinstance(order, str):
        order = [o for o in order.split(",")]
    if not isinstance(order, list):
        raise QueryError("order must be an array or a string")
    out = []
    for item in order:
        if not isinstance(item, str):
            raise QueryError("Invalid order %r" % (item,))
        words = item.split()
        if not words or len(words) > 2:
            if not words:
                continue
            raise QueryError("Invalid order %r" % item)
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise QueryError("Invalid order direction %r" % item)
        attr = words[0]
        table = None
        if "." in attr:
            prefix, rest = attr.split(".", 1)
            if prefix in KINDS:
                table, attr = prefix, rest
        out.append((table, attr, direction == "desc"))
    return out


def sort_records(recs, order, default=(("modified_at", True),)):
    """Sort records (possibly of several kinds) by the parsed order.

    Unknown attributes are dropped (as upstream). ``uuid asc`` is always
    the final tiebreak so the order is total. NULLs sort last ascending
    and first descending (PostgreSQL's default).
    """
    keys = [(t, a, d) for t, a, d in order]
    if not keys:
        keys = [(None, a, d) for a, d in default]
    keys.append((None, "uuid", False))
    for table, attr, desc in reversed(keys):
        def key(rec, table=table, attr=attr):
            kind = records.kind_by_name(rec["kind"])
            if table is not None and kind.table != table:
                v = None
            elif attr not in kind.fields:
                v = None
            else:
                v = rec.get(attr)
                ftype = kind.fields[attr]
                if ftype == TIME:
                    v = _parse_ts(v) if v is not None else None
                elif ftype in (JSON, ARRAY) and v is not None:
                    v = json.dumps(v, sort_keys=True)
                elif ftype == BOOL and v is not None:
                    v = int(v)
            # Booleans pick NULL placement so that reverse=True puts NULLs first.
            return (v is None, v if v is not None else 0)
        try:
            recs.sort(key=key, reverse=desc)
        except TypeError:
            recs.sort(key=lambda r, k=key: (k(r)[0], str(k(r)[1])), reverse=desc)
    return recs


def parse_limit(limit):
    if limit is None:
        return DEFAULT_LIMIT
    try:
        n = int(limit)
    except (TypeError, ValueError):
        raise QueryError("Invalid value for limit: %r" % (limit,))
    if n < 0:
        raise QueryError("Invalid value for limit: %r" % (limit,))
    return min(n, MAX_LIMIT)


def parse_offset(offset):
    if offset is None:
        return 0
    try:
        n = int(offset)
    except (TypeError, ValueError):
        raise QueryError("Invalid value for offset: %r" % (offset,))
    if n < 0:
        raise QueryError("Invalid value for offset: %r" % (offset,))
    return n


def parse_count(count):
    if count in (None, "", "exact"):
        return True
    if count == "none":
        return False
    raise QueryError("Invalid count parameter %r (must be 'exact' or 'none')" % (count,))


def check_select(select, kinds):
    if select is None:
        return None
    if isinstance(select, str):
        select = [s.strip() for s in select.split(",") if s.strip()]
    if not isinstance(select, list) or not all(isinstance(s, str) for s in select):
        raise QueryError("select must be an array of attribute names")
    for s in select:
        if not any(s in k.fields for k in kinds):
            raise QueryError("Invalid attribute %r in select" % s)
    return select


def project(rec, select):
    """A record cut down to the selected attributes (plus kind and etag)."""
    if select is None:
        return rec
    out = {a: rec[a] for a in select if a in rec}
    out.setdefault("kind", rec["kind"])
    out.setdefault("etag", rec.get("etag", ""))
    return out


def distinct(recs, select):
    seen = set()
    out = []
    for rec in recs:
        key = json.dumps([rec.get(a) for a in (select or sorted(rec))], sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(rec)
    return out


# Attributes an `=` or `in` filter on is applied before permissions are
# checked, as a real API server's indexes on them would.
_INDEXED = ("name", "owner_uuid", "uuid")


def names_asked(filters):
    """The names an unqualified `name =`/`name in` filter allows, or None."""
    for attr, values in _indexed_filters(filters):
        if attr == "name":
            return values
    return None


def _indexed_filters(filters):
    wanted = []
    if isinstance(filters, list):
        for f in filters:
            if not (isinstance(f, list) and len(f) == 3 and f[0] in _INDEXED):
                continue
            if f[1] == "=" and isinstance(f[2], str):
                wanted.append((f[0], {f[2]}))
            elif f[1] == "in" and isinstance(f[2], list) and all(isinstance(v, str) for v in f[2]):
                wanted.append((f[0], set(f[2])))
    return wanted


def prefilter(filters):
    """A cheap predicate on a record that every record `filters` can match
    passes: its unqualified `=`/`in` filters on indexed attributes.  The
    list call still applies every filter; this only spares the permission
    check of records that cannot match (a lookup by name in a project of
    10^5 collections)."""
    wanted = _indexed_filters(filters)
    if not wanted:
        return lambda rec: True
    if len(wanted) == 1:
        (attr, values), = wanted
        return lambda rec: rec.get(attr) in values
    return lambda rec: all(rec.get(attr) in values for attr, values in wanted)
