"""CONNECT with a wrong password, an unknown user and the right one: the CONNACK codes
(3.1.1: 4 'bad user name or password'; 5: 0x86). Option: version=3|5."""
from mqtt_common import Client, run


def main(host, port, prefix, opts):
    version = int(opts.get('version', '5'))
    out = {}
    for name, user, password in (('wrong_password', 'guest', 'wrong'), ('unknown_user', prefix, 'x'),
                                 ('right', 'guest', 'guest')):
        c = Client(host, port, '%s-%s' % (prefix, name), version, username=user, password=password)
        rc, present = c.connect(expect_ok=False)
        out[name] = rc
        if rc == 0:
            c.disconnect()
        else:
            c.c.loop_stop()
    return out


run(main)
