"""--filters: which of the user's extra filters apply to which API call.

A filter's attribute may be qualified with a table (`collections.name`).
`groups.contents` takes qualified filters as they are (the server applies
each to its own table); list calls on one table take the unqualified ones
and their own table's, with the prefix stripped.  A string filter
("(created_at < modified_at)", compared column to column) goes to every
call unchanged."""


def filters_for(call, filters):
    if not filters:
        return []
    if call == 'groups.contents':
        return [f if isinstance(f, str) else list(f) for f in filters]
    table = call.split('.')[0]
    out = []
    for f in filters:
        if isinstance(f, str):
            # "(attr1 < attr2)": the server applies it as it is.
            out.append(f)
            continue
        attr, op, operand = f
        if isinstance(attr, str) and '.' in attr and not attr.startswith('properties.'):
            prefix, rest = attr.split('.', 1)
            if prefix != table:
                continue
            attr = rest
        out.append([attr, op, operand])
    return out
