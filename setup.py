"""arv-mount's metadata is in pyproject.toml; this file stays for tools and
habits that call setup.py (python setup.py --version, old pip)."""

from setuptools import setup

setup()
