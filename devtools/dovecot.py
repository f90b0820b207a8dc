"""A real Dovecot IMAP server for tests: own config, base_dir and maildir in a temp dir, loopback only.

Dovecot runs in the foreground (``dovecot -F -c <config>``) as a child of the test, with a
self-signed certificate made here with ``cryptography``; IMAPS and STARTTLS ports are free loopback
ports. Tests skip with the reason when Debian's dovecot-imapd is not installed (``make mailserver``).
"""
from __future__ import annotations

import datetime as dt
import grp
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed(directory: Path) -> tuple[Path, Path]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class Dovecot:
    user = "rechnungen"
    password = "geheim-im-test"

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="dovecot-"))
        os.chmod(self.dir, 0o755)  # the login and auth processes run as other users when we are root
        self.imaps_port, self.imap_port = free_port(), free_port()
        self.proc: subprocess.Popen | None = None

    def _config(self) -> Path:
        cert, key = self_signed(self.dir)
        os.chmod(key, 0o644)
        self.cert = cert
        (self.dir / "passwd").write_text(f"{self.user}:{{PLAIN}}{self.password}\n")
        home = self.dir / "home"
        home.mkdir(exist_ok=True)
        uid, gid = os.getuid(), os.getgid()
        if uid == 0:
            login_user, internal_user = "dovenull", "dovecot"
            uid, gid = pwd.getpwnam("dovecot").pw_uid, grp.getgrnam("dovecot").gr_gid
            os.chown(home, uid, gid)
        else:
            login_user = internal_user = pwd.getpwuid(uid).pw_name
        conf = self.dir / "dovecot.conf"
        conf.write_text(f"""
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = 0
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = yes
auth_mechanisms = plain
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.dir}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={home}/%u
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
""")
        return conf

    def start(self) -> Dovecot:
        conf = self._config()
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.proc.stdout.read().decode(errors='replace')}\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.imaps_port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"dovecot did not listen on {self.imaps_port}: {self.log()}")

    def log(self) -> str:
        p = self.dir / "dovecot.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
