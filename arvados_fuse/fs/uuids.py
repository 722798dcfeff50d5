"""Recognizing identifiers: UUIDs by type infix, portable data hashes."""

import re

uuid_pattern = re.compile(r'^[a-z0-9]{5}-[a-z0-9]{5}-[a-z0-9]{15}$')
collection_uuid_pattern = re.compile(r'^[a-z0-9]{5}-4zz18-[a-z0-9]{15}$')
group_uuid_pattern = re.compile(r'^[a-z0-9]{5}-j7d0g-[a-z0-9]{15}$')
user_uuid_pattern = re.compile(r'^[a-z0-9]{5}-tpzed-[a-z0-9]{15}$')
link_uuid_pattern = re.compile(r'^[a-z0-9]{5}-o0j2j-[a-z0-9]{15}$')
# A bare PDH, `hash+size`.
portable_data_hash_pattern = re.compile(r'^[0-9a-f]{32}\+[0-9]+$')
# A PDH with hints, such as the signed locator Keep returned for a manifest
# block: `hash+size+A<sig>@<expiry>`.
keep_locator_pattern = re.compile(r'^[0-9a-f]{32}\+[0-9]+(\+[A-Z][A-Za-z0-9@_-]+)*$')


def strip_hints(locator):
    return '+'.join(locator.split('+')[:2])
