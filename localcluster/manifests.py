"""Manifest validation, normalization, portable data hash and signing.

Manifests are validated (the 422 cases of Arvados' manifest validator),
then stored in the normalized, unsigned form the Python SDK emits, so the
server's PDH equals the SDK's ``portable_data_hash()``. Names are handled
as bytes: octal escapes ``\\ooo`` decode to bytes, and on output only
``\\``, ``:`` and bytes 0x00-0x20 are escaped (as the SDK does), plus any
byte that is not valid UTF-8 (which could not travel in JSON otherwise).
"""

import bisect
import hashlib
import re

EMPTY_BLOCK = "d41d8cd98f00b204e9800998ecf8427e+0"

_LOCATOR_RE = re.compile(r"^([0-9a-f]{32})\+([0-9]+)((?:\+[A-Z][A-Za-z0-9@_-]+)*)$")
_SEGMENT_RE = re.compile(r"^([0-9]+):([0-9]+):(\S+)$")
_ESCAPE_RE = re.compile(r"\\([0-7]{3})")
_LOOSE_LOCATOR_RE = re.compile(r"^[0-9a-f]{32}\+[0-9]+")


class ManifestError(ValueError):
    """The manifest is malformed; the message says why (sent with a 422)."""


def _unescape(token):
    """Escaped manifest name -> bytes; raise ManifestError for escapes above \\377."""
    out = bytearray()
    pos = 0
    for m in _ESCAPE_RE.finditer(token):
        out += token[pos:m.start()].encode("utf-8", "surrogateescape")
        value = int(m.group(1), 8)
        if value > 0o377:
            raise ManifestError("invalid octal escape \\%s in %r" % (m.group(1), token))
        out.append(value)
        pos = m.end()
    out += token[pos:].encode("utf-8", "surrogateescape")
    return bytes(out)


def escape(name):
    """bytes -> manifest name token (SDK escaping + escapes for non-UTF-8 bytes)."""
    text = name.decode("utf-8", "surrogateescape")
    out = []
    for ch in text:
        code = ord(ch)
        if ch in "\\:" or code <= 0x20:
            out.append("\\%03o" % code)
        elif 0xDC80 <= code <= 0xDCFF:       # an undecodable byte
            out.append("\\%03o" % (code - 0xDC00))
        else:
            out.append(ch)
    return "".join(out)


class _Dir:
    __slots__ = ("files", "dirs")

    def __init__(self):
        self.files = {}     # name bytes -> list of [locator, block_size, offset, length]
        self.dirs = {}      # name bytes -> _Dir


def _check_components(parts, what, token):
    for p in parts:
        if p in (b"", b".", b".."):
            raise ManifestError("invalid %s %r: empty, '.' or '..' component" % (what, token))


def _walk(root, parts, token):
    node = root
    for p in parts:
        if p in node.files:
            raise ManifestError("directory %r conflicts with a file of the same name" % token)
        node = node.dirs.setdefault(p, _Dir())
    return node


def parse(text):
    """Validate a manifest; return its directory tree (raise ManifestError)."""
    if not isinstance(text, str):
        raise ManifestError("manifest_text must be a string")
    root = _Dir()
    if text == "":
        return root
    if not text.endswith("\n"):
        raise ManifestError("manifest does not end with a newline")
    for lineno, line in enumerate(text[:-1].split("\n"), 1):
        tokens = line.split(" ")
        if "" in tokens:
            raise ManifestError("line %d: empty token (leading, trailing or double space)" % lineno)
        if any(("\t" in t or "\r" in t) for t in tokens):
            raise ManifestError("line %d: tab or carriage return in a token" % lineno)
        stream = _unescape(tokens[0])
        if stream != b"." and not stream.startswith(b"./"):
            raise ManifestError("line %d: invalid stream name %r" % (lineno, tokens[0]))
        sparts = stream.split(b"/")[1:]
        _check_components(sparts, "stream name", tokens[0])
        blocks, starts, total = [], [], 0
        i = 1
        while i < len(tokens) and _LOOSE_LOCATOR_RE.match(tokens[i]):
            m = _LOCATOR_RE.match(tokens[i])
            if not m:
                raise ManifestError("line %d: invalid locator %r" % (lineno, tokens[i]))
            size = int(m.group(2))
            blocks.append((m.group(1) + "+" + m.group(2), size))
            starts.append(total)
            total += size
            i += 1
        if not blocks:
            raise ManifestError("line %d: no block locator" % lineno)
        if i == len(tokens):
            raise ManifestError("line %d: no file token" % lineno)
        sdir = _walk(root, sparts, tokens[0])
        for tok in tokens[i:]:
            m = _SEGMENT_RE.match(tok)
            if not m:
                raise ManifestError("line %d: invalid file token %r" % (lineno, tok))
            pos, size = int(m.group(1)), int(m.group(2))
            if pos + size > total:
                raise ManifestError("line %d: file segment %r beyond the end of the stream" % (lineno, tok))
            name = _unescape(m.group(3))
            if name == b".":
                if size:
                    raise ManifestError("line %d: '.' placeholder with data" % lineno)
                continue    # empty-directory placeholder: the stream dir already exists
            fparts = name.split(b"/")
            _check_components(fparts, "file name", tok)
            fdir = _walk(sdir, fparts[:-1], tok)
            if fparts[-1] in fdir.dirs:
                raise ManifestError("file %r conflicts with a directory of the same name" % tok)
            pieces = fdir.files.setdefault(fparts[-1], [])
            # Split the stream range into per-block pieces.
            end = pos + size
            b = bisect.bisect_right(starts, pos) - 1
            while pos < end:
                while starts[b] + blocks[b][1] <= pos:
                    b += 1
                off = pos - starts[b]
                n = min(end, starts[b] + blocks[b][1]) - pos
                pieces.append([blocks[b][0], blocks[b][1], off, n])
                pos += n
    return root


def _stream_line(name, files):
    tokens = [escape(name)]
    block_pos = {}
    offset = 0
    for fname in sorted(files):
        for loc, bsize, _, _ in files[fname]:
            if loc not in block_pos:
                tokens.append(loc)
                block_pos[loc] = offset
                offset += bsize
    if len(tokens) == 1:
        tokens.append(EMPTY_BLOCK)
    for fname in sorted(files):
        fout = escape(fname)
        span = None
        for loc, _, off, n in files[fname]:
            start = block_pos[loc] + off
            if span and start == span[1]:
                span[1] += n
                continue
            if span:
                tokens.append("%d:%d:%s" % (span[0], span[1] - span[0], fout))
            span = [start, start + n]
        if span:
            tokens.append("%d:%d:%s" % (span[0], span[1] - span[0], fout))
        else:
            tokens.append("0:0:" + fout)
    return " ".join(tokens) + "\n"


def _emit(node, name, out, is_root):
    if not is_root and not node.files and not node.dirs:
        out.append("%s %s 0:0:\\056\n" % (escape(name), EMPTY_BLOCK))
        return
    if node.files:
        out.append(_stream_line(name, node.files))
    for dname in sorted(node.dirs):
        _emit(node.dirs[dname], name + b"/" + dname, out, False)


def normalize(text):
    """Validate and return (normalized unsigned manifest, file_count, file_size_total)."""
    root = parse(text)
    out = []
    _emit(root, b".", out, True)
    count = size = 0
    stack = [root]
    while stack:
        node = stack.pop()
        count += len(node.files)
        size += sum(p[3] for pieces in node.files.values() for p in pieces)
        stack.extend(node.dirs.values())
    return "".join(out), count, size


def portable_data_hash(text):
    """PDH of a manifest per the API: hints stripped, whitespace collapsed."""
    lines = []
    for line in text.split("\n"):
        toks = line.split()
        if not toks:
            continue
        toks = [toks[0]] + [("+".join(t.split("+")[:2]) if _LOOSE_LOCATOR_RE.match(t) else t)
                            for t in toks[1:]]
        lines.append(" ".join(toks) + "\n")
    data = "".join(lines).encode("utf-8", "surrogateescape")
    return "%s+%d" % (hashlib.md5(data).hexdigest(), len(data))


def sign(text, signer, token, expiry=None):
    """Add a fresh +A hint (for token) to every locator of a stored manifest."""
    if not text or not token or signer is None:
        return text
    out = []
    for line in text.split("\n"):
        toks = line.split(" ")
        for i in range(1, len(toks)):
            if _LOOSE_LOCATOR_RE.match(toks[i]):
                toks[i] = signer.sign_locator(toks[i], token, expiry)
        out.append(" ".join(toks))
    return "\n".join(out)


def block_locators(text):
    """Every distinct stripped block locator mentioned in a manifest."""
    seen = {}
    for tok in text.split():
        if _LOOSE_LOCATOR_RE.match(tok):
            seen.setdefault("+".join(tok.split("+")[:2]), None)
    return list(seen)
