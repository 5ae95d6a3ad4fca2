"""TLS between hosts is one setting away: a server with a certificate, clients that verify it."""

from __future__ import annotations

import datetime
import ipaddress
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from events import names
from services.app.stack import free_port, start_nats_server
from services.app.supervise import stop_process
from services.bus.connect import NatsUnreachable, connect_client, connect_service
from services.bus.topology import ensure_topology
from services.settings import Settings


def _write_pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A self-signed CA and a server certificate for 127.0.0.1 signed by it: (ca, cert, key)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "audiobook test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nats")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return (_write_pem(folder / "ca.pem", ca.public_bytes(pem)),
            _write_pem(folder / "server.pem", cert.public_bytes(pem)),
            _write_pem(folder / "server-key.pem", key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                                    serialization.NoEncryption())))


async def test_tls_server_and_clients(tmp_path: Path) -> None:
    ca, cert, key = certificates(tmp_path)
    config = tmp_path / "tls.conf"
    config.write_text(f"tls {{ cert_file: {json.dumps(str(cert))}, key_file: {json.dumps(str(key))} }}\n")
    store = tmp_path / "js"
    store.mkdir()
    port = free_port()
    server, _ = start_nats_server(store, port, config=config)
    url = f"nats://127.0.0.1:{port}"
    try:
        secure = Settings(nats_url=url, nats_tls_ca=ca)
        nc = await connect_client(url, secure)
        assert nc.is_connected and nc.connected_url is not None
        js = nc.jetstream()
        await ensure_topology(js, secure)
        ack = await js.publish(names.REQUEST_SUBJECT, b'{"source": "x.epub"}')
        assert ack.stream == names.REQUESTS_STREAM
        await nc.close()
        service = await connect_service(secure, "tls-test")  # the services' policy, the same setting
        assert service.is_connected
        await service.close()
        with pytest.raises(NatsUnreachable, match="TLS failed"):  # without the CA the certificate is not trusted
            await connect_client(url.replace("nats://", "tls://"), Settings(nats_url=url))
    finally:
        stop_process(server)
