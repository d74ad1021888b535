"""A real SMTP server for the integration tests (aiosmtpd, from PyPI).

    smtpd.py DIR USER PASSWORD [starttls|tls]

Listens on 127.0.0.1 on a free port, with a certificate for 127.0.0.1 and
localhost from a CA made now (trustme); writes DIR/ca.pem. With `starttls`
(the default) it requires STARTTLS before anything else; with `tls` the
connection is TLS from the first byte. Either way it requires AUTH with
USER and PASSWORD. Each message received is written to DIR as N.eml (the
message as sent) and N.json (envelope, and whether TLS and AUTH were used).
Prints "READY <port>" when listening, and stops when its standard input
closes, so it never outlives the test that started it.
"""

import json
import os
import socket
import ssl
import sys
import threading

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Keep:
    def __init__(self, directory, implicit_tls=False):
        self.directory = directory
        self.implicit_tls = implicit_tls
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": self.implicit_tls or session.ssl is not None,
            "authenticated": bool(session.authenticated),
        }
        for ext, data in (("eml", envelope.original_content), ("json", json.dumps(meta).encode())):
            tmp = os.path.join(self.directory, f".{n}.{ext}.tmp")
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, os.path.join(self.directory, f"{n}.{ext}"))
        return "250 Message accepted for delivery"


def main():
    directory, user, password = sys.argv[1:4]
    mode = sys.argv[4] if len(sys.argv) > 4 else "starttls"
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(os.path.join(directory, "ca.pem"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        # handled=False: aiosmtpd then answers a failure itself (535); its
        # default, handled=True, expects the authenticator to have answered
        # and leaves the client waiting.
        return AuthResult(success=ok, handled=False)

    port = free_port()
    common = dict(auth_required=True, authenticator=authenticator)
    if mode == "tls":
        # TLS from the first byte: aiosmtpd's auth_require_tls knows only
        # STARTTLS, and here everything is already encrypted.
        controller = Controller(
            Keep(directory, implicit_tls=True),
            hostname="127.0.0.1",
            port=port,
            ssl_context=context,
            auth_require_tls=False,
            **common,
        )
    else:
        controller = Controller(
            Keep(directory),
            hostname="127.0.0.1",
            port=port,
            tls_context=context,
            require_starttls=True,
            auth_require_tls=True,
            **common,
        )
    controller.start()
    print(f"READY {port}", flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
