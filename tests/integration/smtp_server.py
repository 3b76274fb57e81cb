"""A test SMTP server on Debian's aiosmtpd, started by test_notify_channels.py.

  smtp_server.py MODE PORT OUTDIR [CERT KEY USER PASSWORD]

MODE starttls: plain SMTP that offers STARTTLS and refuses MAIL and AUTH
before it (require_starttls); AUTH PLAIN/LOGIN checked against USER and
PASSWORD. MODE smtps: TLS from the first byte, same AUTH. MODE plain: no TLS
at all (the server a client must refuse to mail through). Every command the
server receives is appended to OUTDIR/commands.txt, every message accepted
written to OUTDIR/N.eml. Prints "ready" once listening; stops on SIGTERM."""

import os
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def main():
    mode, port, outdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    count = [0]
    lock = threading.Lock()

    def note(line):
        with lock, open(os.path.join(outdir, "commands.txt"), "a") as f:
            f.write(line + "\n")

    class Handler:
        async def handle_EHLO(self, server, session, envelope, hostname, responses):
            note(f"EHLO tls={session.ssl is not None}")
            session.host_name = hostname
            return responses

        async def handle_MAIL(self, server, session, envelope, address, options):
            note(f"MAIL {address} tls={session.ssl is not None}")
            envelope.mail_from = address
            return "250 OK"

        async def handle_RCPT(self, server, session, envelope, address, options):
            note(f"RCPT {address}")
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            with lock:
                count[0] += 1
                n = count[0]
            path = os.path.join(outdir, f"{n}.eml")
            with open(path + ".tmp", "wb") as f:
                f.write(envelope.original_content)
            os.rename(path + ".tmp", path)
            note(f"DATA {len(envelope.original_content)} bytes tls={session.ssl is not None}")
            return "250 Message accepted"

    kwargs = {"hostname": "127.0.0.1", "port": port}
    if mode in ("starttls", "smtps"):
        cert, key, user, password = sys.argv[4:8]
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (auth_data.login == user.encode() and auth_data.password == password.encode())
            note(f"AUTH {mechanism} ok={ok} tls={session.ssl is not None}")
            # handled=False: aiosmtpd answers 535 itself (else it says nothing)
            return AuthResult(success=ok, handled=False)

        kwargs.update(authenticator=authenticator, auth_require_tls=True)
        if mode == "starttls":
            kwargs.update(tls_context=ctx, require_starttls=True)
        else:
            kwargs.update(ssl_context=ctx)
    elif mode != "plain":
        sys.exit(f"unknown mode {mode}")

    ctl = Controller(Handler(), **kwargs)
    ctl.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    stop.wait()
    ctl.stop()


if __name__ == "__main__":
    main()
