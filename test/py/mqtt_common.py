"""Shared helpers for the paho-mqtt interop scripts (run by /usr/bin/python3 from
test/interop-paho.test.ts).

Every script takes the broker host, the MQTT port, a unique name prefix and `key=value` options,
prints one JSON object with its observations on stdout and exits 0, or exits non-zero with a
trace on stderr. Every wait is bounded.

Works with paho-mqtt 1.6 (Debian 12) and 2.x (Debian 13: CallbackAPIVersion.VERSION2): the
callbacks below take *args and read what both versions pass in the same place.
"""
import json
import os
import sys
import threading
import time
import traceback

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

V2 = hasattr(mqtt, 'CallbackAPIVersion')
# A safety net against a hang, not a verdict: generous, so that a busy machine is only slower.
WAIT = 20.0


def args():
    if len(sys.argv) < 4:
        sys.exit('usage: %s HOST PORT PREFIX [key=value ...]' % sys.argv[0])
    opts = dict(a.split('=', 1) for a in sys.argv[4:])
    return sys.argv[1], int(sys.argv[2]), sys.argv[3], opts


def code(rc):
    """An int from a 1.x int return code, or a 1.x ReasonCodes / 2.x ReasonCode object."""
    return rc if isinstance(rc, int) else rc.value


# paho 2.x hands a 3.1.1 CONNACK return code to on_connect as the v5 reason of the same name
# (4 becomes 0x86): back to the code on the wire.
V3_CONNACK = {'Success': 0, 'Unsupported protocol version': 1, 'Client identifier not valid': 2,
              'Server unavailable': 3, 'Bad user name or password': 4, 'Not authorized': 5}


def props(packet_type, **kw):
    p = Properties(packet_type)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


class Client:
    """A paho client on its own network thread that records what happens, with bounded waits."""

    def __init__(self, host, port, client_id='', version=5, clean=True, session_expiry=None,
                 username=None, password=None, will=None, transport='tcp', ws_path='/mqtt',
                 max_inflight=20, connect_props=None, reconnect=True):
        self.host, self.port, self.version = host, port, version
        self.clean, self.session_expiry = clean, session_expiry
        self.reconnect = reconnect
        self.connect_props = dict(connect_props or {})
        if session_expiry is not None:
            self.connect_props['SessionExpiryInterval'] = session_expiry
        self.cond = threading.Condition()
        self.connacks = []      # [(code, session_present)]
        self.connack_props = None
        self.messages = []      # paho MQTTMessage objects, in arrival order
        self.subacks = {}       # mid -> [codes]
        self.published = set()  # mids whose PUBACK / PUBCOMP came
        self.disconnects = []   # codes
        protocol = mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311
        kw = dict(client_id=client_id, protocol=protocol, transport=transport)
        if version != 5:
            kw['clean_session'] = clean
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kw) if V2 else mqtt.Client(**kw)
        if transport == 'websockets':
            self.c.ws_set_options(path=ws_path)
        self.c.max_inflight_messages_set(max_inflight)
        if username is not None:
            self.c.username_pw_set(username, password)
        if will is not None:
            self.c.will_set(**will)
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.on_publish = self._on_publish
        self.c.on_disconnect = self._on_disconnect

    # paho callbacks (network thread) ------------------------------------------------------------

    def _on_connect(self, _c, _u, flags, rc, *rest):
        present = flags.session_present if hasattr(flags, 'session_present') else flags.get('session present')
        with self.cond:
            if rest and rest[0] is not None:
                self.connack_props = rest[0].json()
            wire = code(rc) if self.version == 5 or isinstance(rc, int) else V3_CONNACK.get(rc.getName(), -1)
            self.connacks.append((wire, bool(present)))
            self.cond.notify_all()

    def _on_message(self, _c, _u, msg):
        with self.cond:
            self.messages.append(msg)
            self.cond.notify_all()

    def _on_subscribe(self, _c, _u, mid, granted, *_rest):
        with self.cond:
            self.subacks[mid] = [code(g) for g in granted]
            self.cond.notify_all()

    def _on_publish(self, _c, _u, mid, *_rest):
        with self.cond:
            self.published.add(mid)
            self.cond.notify_all()

    def _on_disconnect(self, _c, _u, *rest):
        # 1.x: (rc[, properties]); 2.x: (flags, reason_code, properties)
        rc = rest[1] if V2 else rest[0]
        if not self.reconnect:
            self.c.disconnect()  # stops the network loop from connecting again
        with self.cond:
            self.disconnects.append(code(rc))
            self.cond.notify_all()

    # actions ------------------------------------------------------------------------------------

    def wait(self, pred, what, timeout=WAIT):
        with self.cond:
            if not self.cond.wait_for(pred, timeout):
                raise AssertionError('timed out after %.1f s waiting for %s' % (timeout, what))

    def connect(self, expect_ok=True):
        """Connects and waits for the CONNACK; returns (code, session_present)."""
        n = len(self.connacks)
        kw = {}
        if self.version == 5:
            kw['clean_start'] = self.clean
            if self.connect_props:
                kw['properties'] = props(PacketTypes.CONNECT, **self.connect_props)
        self.c.connect(self.host, self.port, keepalive=30, **kw)
        self.c.loop_start()
        self.wait(lambda: len(self.connacks) > n or self.disconnects, 'CONNACK')
        if len(self.connacks) <= n:
            raise AssertionError('connection closed before CONNACK: %r' % self.disconnects)
        result = self.connacks[n]
        if expect_ok and result[0] != 0:
            raise AssertionError('CONNACK refused: %r' % (result,))
        return result

    def subscribe(self, topic, qos=0, options=None, properties=None):
        if options is not None:
            rc, mid = self.c.subscribe(topic, options=options, properties=properties)
        else:
            rc, mid = self.c.subscribe(topic, qos, properties=properties)
        assert rc == mqtt.MQTT_ERR_SUCCESS, rc
        self.wait(lambda: mid in self.subacks, 'SUBACK')
        return self.subacks[mid]

    def publish(self, topic, payload, qos=0, retain=False, properties=None):
        info = self.c.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, info.rc
        return info.mid

    def wait_published(self, mids, timeout=WAIT):
        """Waits for the PUBACK / PUBCOMP of every mid (QoS 1/2)."""
        mids = set(mids)
        self.wait(lambda: mids <= self.published, '%d acknowledgements' % len(mids), timeout)

    def wait_messages(self, n, timeout=WAIT):
        self.wait(lambda: len(self.messages) >= n, '%d message(s), have %d' % (n, len(self.messages)), timeout)
        return self.messages[:n]

    def disconnect(self, properties=None):
        if properties is not None:
            self.c.disconnect(properties=properties)
        else:
            self.c.disconnect()
        self.c.loop_stop()

    def drop(self):
        """Closes the socket without DISCONNECT (as a crash would): the will applies."""
        self.c.loop_stop()
        sock = self.c.socket()
        if sock is not None:
            sock.close()


def payloads(msgs):
    return [m.payload.decode() for m in msgs]


def run(main):
    """Runs main(host, port, prefix, opts) and prints its result as JSON; exceptions exit 1."""
    host, port, prefix, opts = args()
    try:
        result = main(host, port, prefix, opts)
    except Exception:  # noqa: BLE001 - report everything to the test
        traceback.print_exc()
        sys.exit(1)
    print(json.dumps(result, sort_keys=True, default=str))
    sys.stdout.flush()


def now():
    return time.monotonic()


def advance(ms, closed=()):
    """Moves the broker's clock `ms` forward, once the broker has seen the connections of the
    client ids in `closed` close. Under a test that drives the broker's clock (MQTT_CLOCK=stdio)
    this asks it on stdout and waits for its answer on stdin; otherwise time passes for real."""
    if os.environ.get('MQTT_CLOCK') != 'stdio':
        time.sleep(ms / 1000.0)
        return
    print(json.dumps({'advance': ms, 'closed': list(closed)}))
    sys.stdout.flush()
    if sys.stdin.readline().strip() != 'ok':
        raise AssertionError('the test did not move the clock')
