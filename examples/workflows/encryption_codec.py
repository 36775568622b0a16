"""The encryption codec of Temporal's samples (AES-256-GCM over the serialized payload, 12-byte
nonce first, key id in the metadata), written with the `cryptography` package: what a Python
worker needs to read and write the payloads Portico encrypts. It is independent of Portico's C
implementation, so the tests use it to prove the two interoperate."""

import base64
import os
from typing import Dict, Iterable, List, Tuple

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


def keys_from_text(text: str) -> Tuple[Dict[str, bytes], str]:
    """Portico's key list (PORTICO_CODEC_KEYS or its file): "id=base64 key" per line or separated
    by commas, # comments; the first key encrypts. Returns (keys by id, the first id)."""
    keys: Dict[str, bytes] = {}
    first = ""
    for line in text.replace(",", "\n").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key_id, _, encoded = line.partition("=")
        key = base64.b64decode(encoded.strip(), validate=True)
        if not key_id.strip() or len(key) != 32:
            raise ValueError(f"codec keys: expected id=<base64 of 32 bytes>, got {line[:20]}…")
        keys[key_id.strip()] = key
        first = first or key_id.strip()
    if not keys:
        raise ValueError("codec keys: no key given")
    return keys, first


def codec_from_environment() -> "EncryptionCodec | None":
    """The codec Portico's programs would use: PORTICO_CODEC_KEYS, else PORTICO_CODEC_KEYS_FILE,
    else none (payloads stay plain)."""
    text = os.environ.get("PORTICO_CODEC_KEYS")
    if not text and os.environ.get("PORTICO_CODEC_KEYS_FILE"):
        with open(os.environ["PORTICO_CODEC_KEYS_FILE"], encoding="utf-8") as keys_file:
            text = keys_file.read()
    if not text:
        return None
    keys, first = keys_from_text(text)
    return EncryptionCodec(keys, first)
