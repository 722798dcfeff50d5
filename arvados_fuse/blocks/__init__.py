"""What a file's bytes are made of and how they are read: manifests parsed
into block pieces, file offsets mapped to Keep blocks with prefetch, and
block signatures renewed before they expire.  No network of its own."""
