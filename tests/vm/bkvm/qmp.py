"""A minimal QMP client: enough to hot-unplug a device and wait until it is gone."""
import json
import socket
import time


class QmpError(Exception):
    pass


class Qmp:
    def __init__(self, path, timeout=10):
        self._sock = socket.socket(socket.AF_UNIX)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._sock.connect(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self._file = self._sock.makefile('rw')
        self._events = []
        self._recv(timeout)  # greeting
        self.execute('qmp_capabilities')

    def close(self):
        self._file.close()
        self._sock.close()

    def _recv(self, timeout):
        self._sock.settimeout(timeout)
        line = self._file.readline()
        if not line:
            raise QmpError('QMP connection closed')
        return json.loads(line)

    def execute(self, command, timeout=10, **arguments):
        self._file.write(json.dumps({'execute': command, 'arguments': arguments}) + '\n')
        self._file.flush()
        while True:
            msg = self._recv(timeout)
            if 'event' in msg:
                self._events.append(msg)
            elif 'error' in msg:
                raise QmpError(f"{command}: {msg['error'].get('desc', msg['error'])}")
            else:
                return msg.get('return')

    def wait_event(self, name, timeout, **data):
        """Waits for event `name` whose data contains `data`."""
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self._events):
                if ev['event'] == name and data.items() <= ev.get('data', {}).items():
                    return self._events.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise QmpError(f'no {name} {data} within {timeout} s')
            try:
                self._events.append(self._recv(left))
            except (socket.timeout, TimeoutError):
                pass

    def unplug(self, device_id, timeout=30):
        """Hot-unplugs a device; returns once QEMU reports it deleted."""
        self.execute('device_del', id=device_id)
        self.wait_event('DEVICE_DELETED', timeout, device=device_id)
