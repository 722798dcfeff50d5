"""systemd's notification protocol (sd_notify), without libsystemd: under a
unit of Type=notify, systemd gives the service a datagram socket in
NOTIFY_SOCKET (a path, or an abstract name starting with '@') and reads
`KEY=VALUE` lines from it: READY=1 once the service is up, STOPPING=1 when
it goes down, STATUS=... what it is doing (`systemctl status` shows it).
"""

import logging
import os
import socket

_logger = logging.getLogger('arvados.arvados_fuse')


class Notifier(object):
    """Sends to `address` (NOTIFY_SOCKET's value); does nothing without one.
    Each send is one datagram; failures are logged at debug level and
    ignored, since the mount must not depend on its supervisor."""

    def __init__(self, address=None):
        self.address = address or None
        self._ready = False

    @classmethod
    def from_environment(cls):
        """The notifier of NOTIFY_SOCKET, which is taken out of the
        environment so that an --exec command does not notify in our name."""
        return cls(os.environ.pop('NOTIFY_SOCKET', None))

    def enabled(self):
        return self.address is not None

    def send(self, *lines):
        if self.address is None:
            return False
        address = self.address
        if address.startswith('@'):
            address = '\0' + address[1:]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.connect(address)
                s.sendall('\n'.join(lines).encode('utf-8', 'replace'))
            return True
        except OSError as e:
            _logger.debug('systemd notification %r to %s failed: %s', lines, self.address, e)
            return False

    def status(self, text):
        return self.send('STATUS=' + ' '.join(text.split()))

    def ready(self, text):
        if self._ready:
            return self.status(text)
        self._ready = True
        return self.send('READY=1', 'STATUS=' + ' '.join(text.split()), 'MAINPID=%d' % os.getpid())

    def stopping(self, text):
        return self.send('STOPPING=1', 'STATUS=' + ' '.join(text.split()))
