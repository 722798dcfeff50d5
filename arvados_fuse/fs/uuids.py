"""Recognizing identifiers: UUIDs by type infix, portable data hashes."""

import re

from ..blocks import locators

uuid_pattern = re.compile(r'^[a-z0-9]{5}-[a-z0-9]{5}-[a-z0-9]{15}$')
collection_uuid_pattern = re.compile(r'^[a-z0-9]{5}-4zz18-[a-z0-9]{15}$')
group_uuid_pattern = re.compile(r'^[a-z0-9]{5}-j7d0g-[a-z0-9]{15}$')
user_uuid_pattern = re.compile(r'^[a-z0-9]{5}-tpzed-[a-z0-9]{15}$')
link_uuid_pattern = re.compile(r'^[a-z0-9]{5}-o0j2j-[a-z0-9]{15}$')
# Keep locators (blocks/locators.py has their grammar): a bare PDH,
# `hash+size`; and a PDH with hints, such as the signed locator Keep
# returned for a manifest block, `hash+size+A<sig>@<expiry>`.
portable_data_hash_pattern = locators.portable_data_hash_pattern
keep_locator_pattern = locators.locator_pattern
strip_hints = locators.strip_hints
