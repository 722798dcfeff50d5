"""arv-mount: a read-only FUSE filesystem for Arvados, and `localcluster`,
the local Arvados-compatible cluster its tests, benchmarks and demo use."""

import re

from setuptools import find_packages, setup

with open('arvados_fuse/__init__.py') as f:
    version = re.search(r"^__version__ = '([^']+)'", f.read(), re.M).group(1)

setup(
    name='arv-mount',
    version=version,
    description='Read-only FUSE filesystem for Arvados Keep collections, projects and tags',
    packages=find_packages(include=['arvados_fuse', 'arvados_fuse.*', 'localcluster', 'localcluster.*']),
    entry_points={'console_scripts': ['arv-mount=arvados_fuse.command:main']},
    python_requires='>=3.9',
    install_requires=[
        'llfuse==1.5.2',
        'arvados-python-client==3.2.1',
        'google-api-python-client==2.202.0',
        'httplib2==0.32.1',
        'websockets==17.4',
        'prometheus-client==0.26.0',
    ],
    extras_require={
        # The local cluster's servers and certificates.
        'cluster': ['aiohttp==3.14.5', 'trustme==1.2.1', 'cryptography==50.0.2'],
        'test': ['aiohttp==3.14.5', 'trustme==1.2.1', 'cryptography==50.0.2',
                 'pytest==9.2.0', 'pytest-timeout==2.4.0', 'hypothesis==6.170.17'],
    },
)
