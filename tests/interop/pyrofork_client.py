"""pyrofork (a Pyrogram fork) as an independent MTProto client against our
test server (crates/mtproto-core/examples/server.rs).

Usage: pyrofork_client.py HOST PORT PUBLIC_PEM FINGERPRINT MODE
MODE is one of abridged, intermediate, full, abridged-obfuscated,
intermediate-obfuscated (pyrofork's five TCP transports).

What is driven, all through pyrofork's own classes:
* pyrogram.session.Auth(...).create(): its DH handshake (legacy RSA scheme,
  plain p_q_inner_data), with our server's public key registered in its key
  table at run time (pyrofork pins Telegram's keys by fingerprint).
* pyrogram.session.Session(...).start(): a ping with salt 0 (answered with
  bad_server_salt, then a pong), then invokeWithLayer(initConnection(
  help.getConfig)), which our echo server answers with the request itself,
  so pyrofork reads back an InvokeWithLayer object (Session.start does not
  look at the result); then its ping task (ping_delay_disconnect every 5 s).
* Session.send(Ping) x8, concurrently: pyrofork sends ping with an even
  seq_no (not content-related); every pong must name its ping_id.
* Session.invoke(help.getAppConfig(hash=...)): the echo must come back byte
  for byte as the same object.
* A second Session on the same auth key (no handshake): start, pings, echo.
The stand-in for pyrogram.Client below carries only the attributes Auth and
Session read; connection_factory points pyrofork's Connection at HOST:PORT
instead of Telegram's DC table. Prints one OK line and exits 0, or raises.
"""
import asyncio
import hashlib
import logging
import sys

import rsa as pyrsa  # installed for Telethon; parses the PKCS#1 PEM

from pyrogram import raw
from pyrogram.connection import Connection
from pyrogram.connection.transport import TCPAbridged, TCPAbridgedO, TCPFull, TCPIntermediate, TCPIntermediateO
from pyrogram.crypto import rsa as pyro_rsa
from pyrogram.session import Auth, Session

MODES = {
    "abridged": TCPAbridged,
    "intermediate": TCPIntermediate,
    "full": TCPFull,
    "abridged-obfuscated": TCPAbridgedO,
    "intermediate-obfuscated": TCPIntermediateO,
}


def tl_bytes(b):
    """TL `bytes` serialization (length prefix, padding to 4)."""
    if len(b) < 254:
        out = bytes([len(b)]) + b
    else:
        out = b"\xfe" + len(b).to_bytes(3, "little") + b
    return out + bytes(-len(out) % 4)


def register_key(pem, expected_fingerprint):
    """Adds our server's key to pyrofork's table, after checking that the
    fingerprint the server printed is the one MTProto defines: the low 64 bits
    of SHA1(n as TL bytes || e as TL bytes), as a signed little-endian long."""
    key = pyrsa.PublicKey.load_pkcs1(pem.encode("ascii"))
    n = key.n.to_bytes((key.n.bit_length() + 7) // 8, "big")
    e = key.e.to_bytes((key.e.bit_length() + 7) // 8, "big")
    fp = int.from_bytes(hashlib.sha1(tl_bytes(n) + tl_bytes(e)).digest()[-8:], "little", signed=True)
    assert fp & (2**64 - 1) == expected_fingerprint, f"fingerprint {fp & (2**64 - 1):016x} != {expected_fingerprint:016x}"
    pyro_rsa.server_public_keys[fp] = pyro_rsa.PublicKey(key.n, key.e)


class Storage:
    async def api_id(self):
        return 1


class StandInClient:
    """What pyrogram.session.Auth and Session read from a pyrogram.Client."""

    ipv6 = False
    alt_port = False
    proxy = None
    app_version = "mtproto-rs interop"
    device_model = "pyrofork interop test"
    system_version = "loopback"
    system_lang_code = "en"
    lang_code = "en"
    lang_pack = ""
    disconnect_handler = None

    def __init__(self, host, port, protocol):
        self.host, self.port = host, port
        self.protocol_factory = protocol
        self.storage = Storage()
        self.updates = []

    def connection_factory(self, **kwargs):
        conn = Connection(**kwargs)
        conn.address = (self.host, self.port)  # instead of Telegram's DC address
        return conn

    async def handle_updates(self, update):
        self.updates.append(update)


async def exercise(client, auth_key, first_ping):
    session = Session(client, 2, auth_key, test_mode=False)
    await asyncio.wait_for(session.start(), 30)
    try:
        ids = list(range(first_ping, first_ping + 8))
        pongs = await asyncio.wait_for(
            asyncio.gather(*[session.send(raw.functions.Ping(ping_id=i)) for i in ids]), 30
        )
        assert all(isinstance(p, raw.types.Pong) for p in pongs), pongs
        assert sorted(p.ping_id for p in pongs) == ids, [p.ping_id for p in pongs]
        query = raw.functions.help.GetAppConfig(hash=0x1234567 + first_ping)
        echo = await asyncio.wait_for(session.invoke(query), 30)
        assert isinstance(echo, raw.functions.help.GetAppConfig), type(echo)
        assert echo.write() == query.write(), "the echo differs from the request"
    finally:
        await session.stop()
    assert not client.updates, f"unexpected updates: {client.updates}"


async def main():
    host, port, pem_file, fingerprint, mode = sys.argv[1:6]
    with open(pem_file, "r", encoding="ascii") as f:
        register_key(f.read(), int(fingerprint, 16))
    client = StandInClient(host, int(port), MODES[mode])
    Auth.MAX_RETRIES = 0  # a failed handshake must fail the test, not be retried
    auth_key = await asyncio.wait_for(Auth(client, 2, False).create(), 60)
    assert len(auth_key) == 256
    await exercise(client, auth_key, 1)
    await exercise(client, auth_key, 100)  # the saved key again: no handshake
    key_id = int.from_bytes(hashlib.sha1(auth_key).digest()[-8:], "little")
    print(f"OK {mode}: handshake, Session.start, 8 pings, echo; again on key {key_id:016x}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(main())
