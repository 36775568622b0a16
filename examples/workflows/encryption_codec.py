"""The encryption codec of Temporal's samples (AES-256-GCM over the serialized payload, 12-byte
nonce first, key id in the metadata), written here with the `cryptography` package: an
implementation independent of Portico's, so the tests prove the two interoperate."""

import os
from typing import Dict, Iterable, List

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"


def seal(key: bytes, plain: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, plain, None)


def unseal(key: bytes, sealed: bytes) -> bytes:
    return AESGCM(key).decrypt(sealed[:12], sealed[12:], None)


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: Dict[str, bytes], encrypt_with: str) -> None:
        self.keys = keys
        self.encrypt_with = encrypt_with

    async def encode(self, payloads: Iterable[Payload]) -> List[Payload]:
        key = self.keys[self.encrypt_with]
        return [Payload(metadata={"encoding": ENCODING, "encryption-key-id": self.encrypt_with.encode()},
                        data=seal(key, p.SerializeToString())) for p in payloads]

    async def decode(self, payloads: Iterable[Payload]) -> List[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding") != ENCODING:
                out.append(p)
                continue
            key = self.keys[p.metadata["encryption-key-id"].decode()]
            inner = Payload()
            inner.ParseFromString(unseal(key, p.data))
            out.append(inner)
        return out
