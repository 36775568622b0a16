"""Writes the seeds of fuzz_jwt.c and fuzz_auth_file.c (fuzz/corpus/fuzz_jwt/,
fuzz/corpus/fuzz_auth_file/) and prints the JWKS and PEM that fuzz_jwt.c and
tests/unit/test_auth.c trust, with tokens for the unit test. The keys are made from fixed numbers,
so a rerun trusts the same keys: test keys, never to sign anything real.

    .venv/bin/python fuzz/auth_corpus.py
"""
import base64
import hashlib
import hmac
import json
import pathlib
import random

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ISSUER, AUDIENCE = "https://login.portico.test", "portico"
NAMESPACES_CLAIM, PERMISSIONS_CLAIM = "portico/namespaces", "portico/permissions"
FOREVER, PAST = 4102444800, 1000000000  # 2100-01-01 and 2001: neither depends on when the fuzzer runs


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def number(value):
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def probably_prime(n, rounds=40):
    if n % 2 == 0:
        return False
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    witnesses = random.Random(n)
    for _ in range(rounds):
        x = pow(witnesses.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def fixed_rsa_key(seed):
    """A 2048-bit RSA key from seed: the same key on every run."""
    numbers = random.Random(seed)
    e = 65537

    def prime():
        while True:
            p = numbers.getrandbits(1024) | (3 << 1022) | 1
            if probably_prime(p) and (p - 1) % e:
                return p

    p, q = prime(), prime()
    d = pow(e, -1, (p - 1) * (q - 1))
    return rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p),
                                 rsa.RSAPublicNumbers(e, p * q)).private_key()


RSA_KEY = fixed_rsa_key(1)  # in the JWKS as rsa-1
PEM_KEY = fixed_rsa_key(2)  # a PEM file: no kid
FORGER = fixed_rsa_key(3)  # trusted nowhere
EC_KEY = ec.derive_private_key(0x5EED_0F_A11_7E57_C0DE, ec.SECP256R1())  # in the JWKS as ec-1


def jwks():
    r, e = RSA_KEY.public_key().public_numbers(), EC_KEY.public_key().public_numbers()
    return {"keys": [{"kty": "RSA", "kid": "rsa-1", "n": number(r.n), "e": number(r.e)},
                     {"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": b64url(e.x.to_bytes(32, "big")),
                      "y": b64url(e.y.to_bytes(32, "big"))}]}


def pem():
    return PEM_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def segment(value):
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def token(alg="RS256", key=None, kid=None, header=None, **claims):
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ada", "exp": FOREVER, "nbf": 1700000000,
            NAMESPACES_CLAIM: ["default"], PERMISSIONS_CLAIM: ["read", "start"], **claims}
    body = {k: v for k, v in body.items() if v is not None}
    head = header or {"alg": alg, "typ": "JWT", "kid": kid or ("ec-1" if alg == "ES256" else "rsa-1")}
    signed = f"{segment(head)}.{segment(body)}".encode()
    if alg == "ES256":
        r, s = decode_dss_signature((key or EC_KEY).sign(signed, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif alg == "HS256":
        signature = hmac.new(key, signed, hashlib.sha256).digest()
    elif alg == "none":
        signature = b""
    else:
        signature = (key or RSA_KEY).sign(signed, padding.PKCS1v15(), hashes.SHA256())
    return f"{signed.decode()}.{b64url(signature)}"


def seeds():
    valid = token()
    head, _, signature = valid.split(".")
    tampered = segment({"iss": ISSUER, "aud": AUDIENCE, "exp": FOREVER, NAMESPACES_CLAIM: ["*"],
                        PERMISSIONS_CLAIM: ["admin", "cluster"]})
    return {
        "rs256": valid,
        "es256": token("ES256"),
        "pem-key": token(key=PEM_KEY, kid="pem-key"),
        "wide-claims": token("ES256", **{NAMESPACES_CLAIM: ["*", 7, None], PERMISSIONS_CLAIM: [
            "read", "start", "signal", "update", "cancel", "activities", "codec", "admin", "cluster", "root", 1]}),
        "no-claims": token(**{NAMESPACES_CLAIM: None, PERMISSIONS_CLAIM: None, "sub": None}),
        "audience-list": token("ES256", aud=["other", AUDIENCE]),
        "expired": token(exp=PAST),
        "not-yet-valid": token(nbf=FOREVER),
        "no-exp": token(exp=None),
        "wrong-audience": token(aud=["someone-else"]),
        "wrong-issuer": token(iss="https://evil.test"),
        "forged": token(key=FORGER),
        "unknown-kid": token(kid="nope"),
        "tampered": f"{head}.{tampered}.{signature}",
        "alg-none": token("none", header={"alg": "none"}),
        # The classic confusion: HS256 keyed with the RSA key's public PEM.
        "alg-confusion": token("HS256", key=pem().encode(), header={"alg": "HS256", "typ": "JWT"}),
        "two-segments": f"{head}.{tampered}",
        "empty-segments": "..",
        "not-base64": "!!!.???.###",
        "not-json": f"{b64url(b'not json')}.{b64url(b'[1,2]')}.{signature}",
    }


def auth_file_seeds():
    """fuzz_auth_file's inputs: 'j' a JWKS file, 'p' a PEM file, else an auth file."""
    key = {"name": "ci", "sha256": hashlib.sha256(b"fuzz-key-ci").hexdigest(), "namespaces": ["default"],
           "permissions": ["read", "start"], "rateLimit": {"perSecond": 5, "burst": 10}}
    ec_key = jwks()["keys"][1]

    def auth(value):
        return "a" + (value if isinstance(value, str) else json.dumps(value, indent=1))

    return {
        "keys": auth({"apiKeys": [key, {**key, "name": "ops", "namespaces": ["*"], "permissions": ["admin"]}],
                      "rateLimit": {"perSecond": 500, "burst": 1000}}),
        "jwt-missing-file": auth({"jwt": {"jwksFile": "/nonexistent/jwks.json", "issuer": "i", "audience": "a",
                                          "leewaySeconds": 5}, "apiKeys": [key]}),
        "jwt-no-keys": auth({"jwt": {"issuer": "i", "audience": "a", "namespacesClaim": "ns"}}),
        "bad-sha256": auth({"apiKeys": [{**key, "sha256": "xyz"}]}),
        "bad-permission": auth({"apiKeys": [{**key, "permissions": ["read", "root"]}]}),
        "bad-rate-limit": auth({"apiKeys": [{**key, "rateLimit": {"perSecond": 0}}]}),
        "unknown-field": auth({"apiKeys": [key], "keys": []}),
        "duplicate-key": auth('{"apiKeys": [], "apiKeys": []}'),
        "not-an-object": auth("[1, 2, 3]"),
        "not-json": auth("{\"apiKeys\": [,]}"),
        "jwks": "j" + json.dumps(jwks()),
        "jwks-ec-off-curve": "j" + json.dumps({"keys": [{**ec_key, "y": ec_key["x"]}]}),
        "jwks-unknown-kty": "j" + json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
        "jwks-bad-base64": "j" + json.dumps({"keys": [{"kty": "RSA", "n": "!!", "e": "AQAB"}]}),
        "jwks-empty": "j" + json.dumps({"keys": []}),
        "pem": "p" + pem(),
        "pem-garbage": "p-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n",
        "pem-empty": "p",
    }


def main():
    here = pathlib.Path(__file__).resolve().parent
    (here / "corpus" / "fuzz_auth_file").mkdir(parents=True, exist_ok=True)
    for name, text in auth_file_seeds().items():
        (here / "corpus" / "fuzz_auth_file" / name).write_text(text)
    corpus = here / "corpus" / "fuzz_jwt"
    corpus.mkdir(parents=True, exist_ok=True)
    for name, text in seeds().items():
        (corpus / name).write_text(f"Bearer {text}\n")
    (corpus / "api-key").write_text("Bearer fuzz-key-ci\n")
    (corpus / "x-api-key").write_text("\nX-API-Key: fuzz-key-ops\n")
    (corpus / "bearer-wins").write_text("Bearer nope\nX-API-Key: fuzz-key-ops\n")
    print("JWKS:", json.dumps(jwks(), separators=(",", ":")))
    print("PEM:", pem())
    print("unit ES256 token:", token("ES256", **{NAMESPACES_CLAIM: ["default", "billing"],
                                                 PERMISSIONS_CLAIM: ["read", "signal", "root"]}))
    print("unit RS256 token, expired:", token(exp=PAST))


if __name__ == "__main__":
    main()
