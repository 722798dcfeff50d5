"""The import rules between the layers of arvados_fuse (docs/architecture.md),
read from the source with `ast`: nothing here imports the package.

- llfuse: only modules at the top of the package (the adapter, its
  wrappers, the command) import it, never a module in a layer folder.
- The client layer is `api/` and `keep/`: only they import the Arvados SDK
  (`arvados`), `googleapiclient`/`apiclient`, `httplib2` or `http.client`.
- The model (`fs/`, `blocks/`) imports neither the client layer nor the
  adapter or the command (nor the package root, which imports both): it is
  given the client as an object.
- No module reads or writes another module's `_private` names: `X._name`
  (or getattr/setattr/hasattr of '_name') where X is not self, cls or
  super().  Allowed: dunder names; a private name of the module itself that
  no other module of the package defines (its own classes, one unit: where
  two modules define the name, the receiver may be the other's); the few stdlib ones in STDLIB_PRIVATE; and, inside
  the client layer only, the SDK's private names (those that the sources of
  `arvados`, `googleapiclient` and `httplib2` define, read with `ast` too).

Every import form counts: `import x`, `import x.y as z`, `from x import y`,
`from x.y import z`, relative imports, imports inside functions, and
`__import__`/`importlib.import_module` of a constant name.

KNOWN_VIOLATIONS lists, per rule, the violations tolerated as (module,
name): none, since every rule holds.  The test fails on a new violation
and on a listed one that is gone, so the list can only shrink.
"""

import ast
import functools
import importlib.util
import os

import pytest

from mountutil import ROOT

PACKAGE = 'arvados_fuse'
CLIENT_LAYER = ('arvados_fuse.api', 'arvados_fuse.keep')
MODEL = ('arvados_fuse.fs', 'arvados_fuse.blocks')
# What the model must not import: the client layer, the adapter, the command
# and the package root (whose __init__ imports the adapter).
NOT_FOR_THE_MODEL = CLIENT_LAYER + ('arvados_fuse.operations', 'arvados_fuse.command',
                                    'arvados_fuse.arguments', 'arvados_fuse.__main__')
SDK = ('arvados', 'googleapiclient', 'apiclient', 'httplib2', 'http.client')
SDK_SOURCES = ('arvados', 'googleapiclient', 'httplib2')
STDLIB_PRIVATE = {('os', '_exit'), ('sys', '_getframe')}

KNOWN_VIOLATIONS = {'llfuse': set(), 'sdk': set(), 'model': set(), 'private': set()}


def _sources(top):
    """(dotted name, path, is a package) of every module under the folder `top`."""
    for folder, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d != '__pycache__']
        for f in files:
            if f.endswith('.py'):
                path = os.path.join(folder, f)
                name = os.path.relpath(path, os.path.dirname(top))[:-3].replace(os.sep, '.')
                package = name.endswith('.__init__')
                yield name[:-len('.__init__')] if package else name, path, package


def _parse(path):
    with open(path, 'rb') as f:
        return ast.parse(f.read(), path)


MODULES = {name: (path, package) for name, path, package in _sources(os.path.join(ROOT, PACKAGE))}
TREES = {name: _parse(path) for name, (path, _package) in MODULES.items()}


def _within(name, prefixes):
    return any(name == p or name.startswith(p + '.') for p in prefixes)


def imports(module):
    """The dotted names `module` imports, anywhere in its source."""
    package = module if MODULES[module][1] else module.rpartition('.')[0]
    out = set()
    for node in ast.walk(TREES[module]):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split('.')
                base = '.'.join(parts[:len(parts) - (node.level - 1)])
                base = base + '.' + node.module if node.module else base
            else:
                base = node.module
            for a in node.names:
                # `from x import y`: the module x.y if y is one, else x.
                sub = base + '.' + a.name
                out.add(sub if sub in MODULES or sub in SDK else base)
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and (isinstance(node.func, ast.Name) and node.func.id == '__import__'
                   or isinstance(node.func, ast.Attribute) and node.func.attr == 'import_module')):
            out.add(node.args[0].value)
    return out


def _is_private(name):
    return name.startswith('_') and not (name.startswith('__') and name.endswith('__'))


def _own(node, aliases=()):
    """self, cls, super() or super(C, self), or a name given self (`me = self`)."""
    return (isinstance(node, ast.Name) and (node.id in ('self', 'cls') or node.id in aliases)
            or isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == 'super')


def _aliases(tree):
    return {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign) and _own(node.value)
            for t in node.targets if isinstance(t, ast.Name)}


@functools.lru_cache(maxsize=None)
def defined(module):
    """The private names `module` defines: attributes of self/cls it assigns,
    methods and class attributes, __slots__, module-level names."""
    out = set()
    for node in ast.walk(TREES[module]):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and _own(node.value):
            out.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.add(node.id)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == '__slots__'
                                                  for t in node.targets):
            out.update(c.value for c in ast.walk(node.value)
                       if isinstance(c, ast.Constant) and isinstance(c.value, str))
    return {n for n in out if _is_private(n)}


def _sdk_private():
    """The private names the SDK's sources define (found, not imported)."""
    out = set()
    for top in SDK_SOURCES:
        spec = importlib.util.find_spec(top)
        assert spec is not None and spec.origin, top
        for _name, path, _package in _sources(os.path.dirname(spec.origin)):
            for node in ast.walk(_parse(path)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    out.add(node.name)
                elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                    out.add(node.attr)
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    out.add(node.id)
    return {n for n in out if _is_private(n)}


SDK_PRIVATE = _sdk_private()


def private_uses(module):
    """(receiver source, name) for every use of a private name on something
    that is not the object itself."""
    out = set()
    aliases = _aliases(TREES[module])
    for node in ast.walk(TREES[module]):
        if isinstance(node, ast.Attribute) and _is_private(node.attr) and not _own(node.value, aliases):
            out.add((ast.unparse(node.value), node.attr))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ('getattr', 'setattr', 'hasattr', 'delattr') and len(node.args) >= 2
              and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
              and _is_private(node.args[1].value) and not _own(node.args[0], aliases)):
            out.add((ast.unparse(node.args[0]), node.args[1].value))
    return out


def violations(rule):
    found = set()
    for module in MODULES:
        top = module.count('.') <= 1          # arvados_fuse or arvados_fuse.x
        client = _within(module, CLIENT_LAYER)
        if rule == 'llfuse':
            found.update((module, name) for name in imports(module)
                         if _within(name, ('llfuse',)) and not top)
        elif rule == 'sdk':
            found.update((module, name) for name in imports(module)
                         if _within(name, SDK) and not client)
        elif rule == 'model' and _within(module, MODEL):
            found.update((module, name) for name in imports(module)
                         if _within(name, NOT_FOR_THE_MODEL) or name == PACKAGE)
        elif rule == 'private':
            own = defined(module) - set().union(*(defined(m) for m in MODULES if m != module))
            for receiver, name in private_uses(module):
                if name in own or (receiver, name) in STDLIB_PRIVATE:
                    continue
                if client and name in SDK_PRIVATE:
                    continue                  # the SDK's, inside the client layer
                found.add((module, name))
    return found


@pytest.mark.parametrize('rule', sorted(KNOWN_VIOLATIONS))
def test_the_import_and_private_name_rules(rule):
    found = violations(rule)
    new = sorted(found - KNOWN_VIOLATIONS[rule])
    gone = sorted(KNOWN_VIOLATIONS[rule] - found)
    assert not new, 'new violations of the %r rule (see the docstring of %s): %s' % (rule, __file__, new)
    assert not gone, ('these violations of the %r rule are fixed: remove them from KNOWN_VIOLATIONS '
                      'in %s: %s' % (rule, __file__, gone))


def test_the_rules_see_every_form_of_import(tmp_path):
    """The scanner itself, on a made-up module in each place."""
    src = '''
import arvados.keep as k
from http import client
from .. import operations
from ..api.safeapi import SafeApi
def f(other):
    import llfuse
    __import__('httplib2')
    other._secret = 1
    getattr(other, '_hidden')
    self_like = super()._fine
    return os._exit, other.__dict__
def g(self):
    me = self
    return me._mine, self._mine
'''
    name = 'arvados_fuse.fs._made_up'
    MODULES[name] = (str(tmp_path / 'x.py'), False)
    TREES[name] = ast.parse(src)
    defined.cache_clear()
    try:
        assert imports(name) == {'arvados.keep', 'http.client', 'arvados_fuse.operations',
                                 'arvados_fuse.api.safeapi', 'llfuse', 'httplib2'}
        assert {n for m, n in violations('llfuse') if m == name} == {'llfuse'}
        assert {n for m, n in violations('sdk') if m == name} == {'arvados.keep', 'http.client', 'httplib2'}
        assert {n for m, n in violations('model') if m == name} == {'arvados_fuse.operations',
                                                                     'arvados_fuse.api.safeapi'}
        assert {n for m, n in violations('private') if m == name} == {'_secret', '_hidden'}
    finally:
        del MODULES[name], TREES[name]
        defined.cache_clear()
