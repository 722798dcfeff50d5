"""The Keep client: block fetches from the Keep servers (parallel,
MD5-checked, bounded waits), the block cache they land in, and the check
that a cached block is served only to a locator Keep would answer."""
