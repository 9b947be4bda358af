"""Telethon as an independent MTProto client against our server.

Usage: telethon_client.py HOST PORT PEM_FILE MODE [cut]
MODE is one of full, intermediate, abridged, obfuscated. Performs the DH
handshake through Telethon's own MTProtoSender, a batch of concurrent pings
(some of them wrapped in gzip_packed, Telethon's GzipPacked), then reconnects
with the saved auth key and pings again, plain and gzip-wrapped. Prints one OK line
and exits 0, or raises. With `cut`: one sender with auto-reconnect, pings,
a pause during which the server drops the TCP connection, pings again on
the connection Telethon opened by itself.
"""
import asyncio
import logging
import sys

import telethon.network.authenticator as authenticator
from telethon.crypto import AuthKey
from telethon.crypto import rsa as telethon_rsa
from telethon.network import MTProtoSender
from telethon.network import connection as conns
from telethon.tl import functions
from telethon.tl.core import GzipPacked
from telethon.tl.tlobject import TLRequest


class Loggers(dict):
    def __missing__(self, key):
        return logging.getLogger(key)


class PaddedAuthKey(AuthKey):
    """Telethon 1.45 builds the auth key from the minimal big-endian bytes of
    g_ab, so about 1 handshake in 200 it holds a 255-byte key and rejects a
    correct dh_gen_ok ("invalid new nonce hash"). The key is 256 bytes by the
    spec; left-pad it here so the test is not flaky. Our server is not bent."""

    def __init__(self, data):
        if data and len(data) < 256:
            data = data.rjust(256, b"\0")
        super().__init__(data)


authenticator.AuthKey = PaddedAuthKey

class GzipPing(TLRequest):
    """A ping sent inside gzip_packed. Telethon gzips only content-related
    bodies over 512 bytes by itself, so the wrapping is explicit here; the
    server must unwrap it and answer the ping (a pong naming this message),
    not hand it to the application as a request."""

    CONSTRUCTOR_ID = GzipPacked.CONSTRUCTOR_ID
    SUBCLASS_OF_ID = functions.PingRequest.SUBCLASS_OF_ID

    def __init__(self, ping_id):
        self.ping_id = ping_id

    def _bytes(self):
        return bytes(GzipPacked(bytes(functions.PingRequest(ping_id=self.ping_id))))

    def to_dict(self):
        return {"_": "GzipPing", "ping_id": self.ping_id}


MODES = {
    "full": conns.ConnectionTcpFull,
    "intermediate": conns.ConnectionTcpIntermediate,
    "abridged": conns.ConnectionTcpAbridged,
    "obfuscated": conns.ConnectionTcpObfuscated,
}


async def session(host, port, mode, key, pings, gzip_pings):
    loggers = Loggers()
    sender = MTProtoSender(key, loggers=loggers, retries=1, delay=0, auto_reconnect=False, connect_timeout=10)
    await asyncio.wait_for(sender.connect(MODES[mode](host, port, 2, loggers=loggers)), 30)
    futures = [sender.send(functions.PingRequest(ping_id=i)) for i in pings]
    futures += [sender.send(GzipPing(i)) for i in gzip_pings]
    results = await asyncio.wait_for(asyncio.gather(*futures), 30)
    assert all(type(r).__name__ == "Pong" for r in results), [type(r).__name__ for r in results]
    got = sorted(r.ping_id for r in results)
    assert got == sorted(pings + gzip_pings), f"pongs {got} for pings {pings} and gzip-wrapped pings {gzip_pings}"
    key = sender.auth_key.key
    await sender.disconnect()
    return key


async def survive_a_cut(host, port, mode):
    loggers = Loggers()
    sender = MTProtoSender(None, loggers=loggers, retries=10, delay=0.2, auto_reconnect=True, connect_timeout=10)
    await asyncio.wait_for(sender.connect(MODES[mode](host, port, 2, loggers=loggers)), 30)
    first = await asyncio.wait_for(asyncio.gather(*[sender.send(functions.PingRequest(ping_id=i)) for i in range(3)]), 30)
    await asyncio.sleep(2.5)  # the server cuts the link after 1 s; Telethon reconnects
    again = await asyncio.wait_for(asyncio.gather(*[sender.send(functions.PingRequest(ping_id=10 + i)) for i in range(3)]), 30)
    assert sorted(r.ping_id for r in first + again) == [0, 1, 2, 10, 11, 12]
    await sender.disconnect()
    print(f"OK {mode} cut: pings before and after the server dropped the connection")


async def main():
    host, port, pem_file, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    with open(pem_file, "r", encoding="ascii") as f:
        telethon_rsa.add_key(f.read(), old=False)
    if sys.argv[5:] == ["cut"]:
        await survive_a_cut(host, port, mode)
        return
    key = await session(host, port, mode, None, list(range(1, 33)), list(range(500, 508)))
    assert key and len(key) == 256
    again = await session(host, port, mode, AuthKey(key), [1000, 1001, 1002], [1500, 1501, 1502])
    assert again == key, "the reconnect must reuse the saved key"
    key_id = AuthKey(key).key_id
    print(f"OK {mode}: handshake, 32 concurrent pings + 8 gzip-wrapped, reconnect with key {key_id:016x}, 3 + 3 gzip-wrapped pings")


if __name__ == "__main__":
    asyncio.run(main())
