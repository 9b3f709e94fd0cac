"""Writes Python-format session fixtures the way the Python CLI's
EncryptedFileStorage does (AES-256-GCM, scrypt over "hostname:uid", hex
fields, json.dumps), with a fixed passphrase, salt and nonce so the output is
reproducible. Run: python3 gen_fixture.py (needs the cryptography package).
"""
import json
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

PASSPHRASE = b"fixture-host:1000"
SALT = bytes(range(16))
NONCE = bytes(range(100, 112))

session = {
    "user_id": "u-42",
    "email": "py@example.com",
    "name": "Py User",
    "teams": [
        {"id": "team-shared", "name": "Shared", "role": "member", "is_private_teamspace": False},
        {"id": "team-private", "name": "Private", "role": "owner", "is_private_teamspace": True},
    ],
    "default_team_id": "team-private",
    "access_token": "py-access-1",
    "refresh_token": "py-refresh-1",
    "session_id": "sess-1",
    "issued_at": "2026-01-01T00:00:00+00:00",
    "access_token_expires_at": "2026-01-01T01:00:00.250000+00:00",
    "refresh_token_expires_at": "2099-01-01T00:00:00+00:00",
    "scope": "offline_access",
    "storage_backend": "file",
    "last_used_at": "2026-01-01T00:00:00+00:00",
    "auth_method": "device_code",
    "generation": 3,
    "future_field": {"nested": [1, 2, 3], "kept": True},
}

for name, n in (("python-n1024", 2**10), ("python-n16384", 2**14)):
    key = Scrypt(salt=SALT, length=32, n=n, r=8, p=1).derive(PASSPHRASE)
    ct = AESGCM(key).encrypt(NONCE, json.dumps(session).encode("utf-8"), None)
    blob = {"version": 2, "nonce": NONCE.hex(), "ciphertext": ct.hex()}
    with open(name + ".session.json", "w", encoding="utf-8") as f:
        f.write(json.dumps(blob))
with open("python.session.salt", "wb") as f:
    f.write(SALT)
