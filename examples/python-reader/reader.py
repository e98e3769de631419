#!/usr/bin/env python3
"""A reader program for `mynatap certify`, written in Python with pyscard and cryptography.

It follows the adapter contract of docs/certification.md: the tap's facts come in environment
variables (or, with --session, as one JSON line per tap on stdin), the card is reached over
PC/SC, the back ends over HTTP, and the verdict leaves as one JSON line on stdout. Nothing here is
mynatap code: it shows the contract is language-neutral.

Debian: apt-get install python3-pyscard python3-cryptography   (for /usr/bin/python3)
Run:    mynatap certify --reader-cmd '/usr/bin/python3 examples/python-reader/reader.py'
        mynatap certify --reader-session '/usr/bin/python3 examples/python-reader/reader.py --session'
"""

import calendar
import datetime
import hashlib
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
import warnings

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from smartcard.Exceptions import CardConnectionException, NoCardException
from smartcard.System import readers
from smartcard.scard import (
    SCARD_E_TIMEOUT,
    SCARD_S_SUCCESS,
    SCARD_SCOPE_USER,
    SCARD_SHARE_EXCLUSIVE,
    SCARD_STATE_CHANGED,
    SCARD_STATE_PRESENT,
    SCARD_STATE_UNAWARE,
    SCardEstablishContext,
    SCardGetStatusChange,
    SCardReleaseContext,
)

JPKI_AID = [0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01]
TOKEN_INFO, AUTH_CERT, AUTH_PIN, AUTH_KEY = [0x00, 0x06], [0x00, 0x0A], [0x00, 0x18], [0x00, 0x17]
LABELS = {"JPKIAPICCTOKEN2": "card", "JPKIAPGPSETOKEN": "android", "JPKIAPIOSTOKEN": "iphone"}
CARD_SURFACE_AID = [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02]
NUMBER_B, SURFACE_ENTRIES, SURFACE_CERTIFICATE = [0x00, 0x12], [0x00, 0x02], [0x00, 0x04]
# The card face is signed over three SHA-256 digests in one DigestInfo (docs/protocol.md).
THREE_DIGEST_INFO = bytes.fromhex("3071300d060960864801650304020105000460")
JP2_SIGNATURE = bytes.fromhex("0000000c6a5020200d0a870a")
# What the physical card expects before a SHA-256 hash in its sign command (RFC 8017, 9.2).
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def verify_x509(key, signature, data, hash_algorithm):
    """An X.509 signature (certificate or CRL) under the CA's key, RSA or ECDSA."""
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, data, padding.PKCS1v15(), hash_algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(hash_algorithm))
    else:
        raise TypeError("the CA key is neither RSA nor EC")


# The JPKI user-authentication profile (contract 1.3, docs/certification.md "The certificate
# profile"): what a strict relying party requires beyond the CA's signature.
USER_AUTHENTICATION_POLICY = "1.2.392.200149.8.5.1.0.30"
UNDERSTOOD_CRITICAL = {
    "2.5.29.15", "2.5.29.19", "2.5.29.32", "2.5.29.37", "2.5.29.17", "2.5.29.30", "2.5.29.36", "2.5.29.54",
}


def der_elements(data):
    """The (tag, whole TLV bytes, value bytes) of each DER element in `data`."""
    elements, at = [], 0
    while at < len(data):
        tag, length = data[at], data[at + 1]
        start = at + 2
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(data[start:start + count], "big")
            start += count
        elements.append((tag, data[at:start + length], data[start:start + length]))
        at = start + length
    return elements


def profile_violation(certificate, der):
    """Why a certificate the CA signed is not a user-authentication certificate, or None."""
    outer = der_elements(der_elements(der)[0][2])
    fields = der_elements(outer[0][2])
    if fields and fields[0][0] == 0xA0:
        fields = fields[1:]
    if certificate.version != x509.Version.v3:
        return "not an X.509 v3 certificate"
    if fields[1][1] != outer[1][1]:
        return "inner and outer signature algorithms differ"
    serial = fields[0][2]
    if serial[0] & 0x80:
        return "negative serial number"
    significant = serial.lstrip(b"\0")
    if not significant or len(significant) > 20:
        return "serial number zero or over 20 octets"
    for tag, _, value in der_elements(fields[3][2]):
        if tag == 0x18 and int(value[:4]) < 2050:
            return "GeneralizedTime before 2050"
    for extension in certificate.extensions:
        if extension.critical and extension.oid.dotted_string not in UNDERSTOOD_CRITICAL:
            return f"unknown critical extension {extension.oid.dotted_string}"
    def extension(kind):
        try:
            return certificate.extensions.get_extension_for_class(kind).value
        except x509.ExtensionNotFound:
            return None
    usage = extension(x509.KeyUsage)
    if usage is None or not usage.digital_signature:
        return "keyUsage missing or without digitalSignature"
    constraints = extension(x509.BasicConstraints)
    if constraints is not None and constraints.ca:
        return "a CA certificate"
    purposes = extension(x509.ExtendedKeyUsage)
    if purposes is not None and x509.ExtendedKeyUsageOID.CLIENT_AUTH not in purposes:
        return "extendedKeyUsage without clientAuth"
    policies = extension(x509.CertificatePolicies)
    if policies is None or USER_AUTHENTICATION_POLICY not in [p.policy_identifier.dotted_string for p in policies]:
        return "without the user-authentication policy"
    return None


UNDERSTOOD_CRL_EXTENSIONS = {"2.5.29.20", "2.5.29.35", "2.5.29.18", "2.5.29.28", "2.5.29.27"}
UNDERSTOOD_ENTRY_EXTENSIONS = {"2.5.29.21", "2.5.29.24", "2.5.29.29"}


def crl_violation(crl):
    """Why a CRL may not be used for revocation status (RFC 5280 5.2, 5.3), or None."""
    for extension in crl.extensions:
        if extension.critical and extension.oid.dotted_string not in UNDERSTOOD_CRL_EXTENSIONS:
            return f"CRL has an unknown critical extension {extension.oid.dotted_string}"
    try:
        crl.extensions.get_extension_for_class(x509.CRLNumber)
    except x509.ExtensionNotFound:
        return "CRL has no CRL number"
    for entry in crl:
        for extension in entry.extensions:
            if extension.critical and extension.oid.dotted_string not in UNDERSTOOD_ENTRY_EXTENSIONS:
                return f"a CRL entry has an unknown critical extension {extension.oid.dotted_string}"
    return None


def issuer_cannot_sign_crls(ca):
    """Why the CA may not sign CRLs (its keyUsage lacks cRLSign: RFC 5280 6.3.3), or None."""
    try:
        usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    return None if usage.crl_sign else "the CRL issuer's keyUsage lacks cRLSign"


def trusted_authorities(env):
    """Every trusted CA certificate, oldest generation first: MYNATAP_CA_CERTS (PEM, contract
    1.3), or the one of MYNATAP_CA_CERT from an older harness."""
    path = env.get("MYNATAP_CA_CERTS")
    if not path:
        with open(env["MYNATAP_CA_CERT"], "rb") as handle:
            return [x509.load_der_x509_certificate(handle.read())]
    with open(path, "rb") as handle:
        text = handle.read().decode("ascii")
    blocks = text.split("-----BEGIN CERTIFICATE-----")[1:]
    return [x509.load_pem_x509_certificate(("-----BEGIN CERTIFICATE-----" + block).encode("ascii")) for block in blocks]


def issuing_authority(anchors, certificate):
    """The index of the anchor whose key verifies `certificate`, among those of its issuer's name."""
    try:
        hint = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except x509.ExtensionNotFound:
        hint = None

    def key_id(anchor):
        try:
            return anchor.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        except x509.ExtensionNotFound:
            return None

    candidates = [i for i, anchor in enumerate(anchors) if anchor.subject == certificate.issuer]
    candidates.sort(key=lambda i: hint is None or key_id(anchors[i]) != hint)
    for index in candidates:
        try:
            verify_x509(anchors[index].public_key(), certificate.signature, certificate.tbs_certificate_bytes, certificate.signature_hash_algorithm)
            return index
        except (InvalidSignature, TypeError, ValueError):
            continue
    return None


class Rejected(Exception):
    """The tap ends with a rejection reason of the scenario format."""

    def __init__(self, reason, detail="", removal=False):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        # The card left the field (not a late answer): the patient may hold it again.
        self.removal = removal


def wait_for(reader_name, present, seconds):
    """Waits up to `seconds` until a card is in `reader_name` (or none is); False if not."""
    hresult, context = SCardEstablishContext(SCARD_SCOPE_USER)
    if hresult != SCARD_S_SUCCESS:
        return False
    try:
        deadline = time.monotonic() + seconds
        states = [(reader_name, SCARD_STATE_UNAWARE)]
        while True:
            hresult, found = SCardGetStatusChange(context, 0, states)
            if hresult != SCARD_S_SUCCESS:
                return False
            state = found[0][1]
            if bool(state & SCARD_STATE_PRESENT) == present:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            states = [(reader_name, state & ~SCARD_STATE_CHANGED)]
            hresult, _ = SCardGetStatusChange(context, int(left * 1000), states)
            if hresult not in (SCARD_S_SUCCESS, SCARD_E_TIMEOUT):
                return False
    finally:
        SCardReleaseContext(context)


class Card:
    """A PC/SC connection that turns every failure into the reason a terminal reports."""

    def __init__(self, reader_name, timeout_ms):
        matches = [r for r in readers() if str(r) == reader_name]
        if not matches:
            raise RuntimeError(f"no reader {reader_name!r}")
        self.connection = matches[0].createConnection()
        self.timeout = timeout_ms / 1000.0
        # The card is this reader's alone during the tap (contract 1.3): no other program on the
        # machine may connect and send it commands. Another client may hold it for a moment (a
        # probe): try again for up to two seconds.
        deadline = time.monotonic() + 2.0
        while True:
            try:
                self.connection.connect(mode=SCARD_SHARE_EXCLUSIVE)
                break
            except NoCardException as error:
                raise Rejected("card_removed", str(error)) from error
            except CardConnectionException as error:
                if time.monotonic() > deadline:
                    raise Rejected("card_removed", str(error)) from error
                time.sleep(0.01)

    def close(self):
        try:
            self.connection.disconnect()
        except (NoCardException, CardConnectionException):
            pass

    def send(self, apdu):
        """Sends one APDU; returns (data, sw). A late or missing answer means the card is gone."""
        started = time.monotonic()
        try:
            data, sw1, sw2 = self.connection.transmit(apdu)
        except (NoCardException, CardConnectionException) as error:
            raise Rejected("card_removed", str(error), removal=True) from error
        if time.monotonic() - started > self.timeout:
            raise Rejected("card_removed", "no response within the timeout")
        return bytes(data), (sw1 << 8) | sw2

    def expect_ok(self, apdu, what):
        data, sw = self.send(apdu)
        if sw != 0x9000:
            raise Rejected("protocol_error", f"{what} answered {sw:04X}")
        return data

    def select_file(self, fid):
        self.expect_ok([0x00, 0xA4, 0x02, 0x0C, 0x02] + fid, "SELECT file")

    def read_certificate(self):
        self.select_file(AUTH_CERT)
        head = self.expect_ok([0x00, 0xB0, 0x00, 0x00, 0x04], "READ header")
        if len(head) != 4 or head[0] != 0x30 or head[1] != 0x82:
            raise Rejected("protocol_error", "certificate header is not a DER SEQUENCE")
        total = ((head[2] << 8) | head[3]) + 4
        der = bytearray(head)
        while len(der) < total:
            chunk = min(256, total - len(der))
            data = self.expect_ok([0x00, 0xB0, len(der) >> 8, len(der) & 0xFF, chunk & 0xFF], "READ")
            if not data or len(data) > chunk:
                raise Rejected("protocol_error", "truncated certificate")
            der += data
        return bytes(der)


def read_tlv_head(data, at):
    """(tag bytes, value start, value length) of the two-byte-tag TLV at `at`, or None."""
    if at + 3 > len(data):
        return None
    tag, length, at = data[at:at + 2], data[at + 2], at + 3
    if length == 0x81 and at + 1 <= len(data):
        length, at = data[at], at + 1
    elif length == 0x82 and at + 2 <= len(data):
        length, at = (data[at] << 8) | data[at + 1], at + 2
    elif length > 0x7F:
        return None
    return (tag, at, length) if at + length <= len(data) else None


def tlv_items(data, template):
    """[(tag bytes, value, whole TLV)] of the objects inside the `template` TLV that opens `data`."""
    head = read_tlv_head(data, 0)
    if head is None or head[0] != template:
        return []
    inner, at, items = data[head[1]:head[1] + head[2]], 0, []
    while at < len(inner):
        item = read_tlv_head(inner, at)
        if item is None:
            return []
        tag, start, length = item
        items.append((tag, inner[start:start + length], inner[at:start + length]))
        at = start + length
    return items


def find_entry(entries, tag):
    """The value of a `DF tag` item inside the card-surface entries' `FF 20` template, or None."""
    return next((value for item, value, _ in tlv_items(entries, b"\xff\x20") if item == bytes([0xDF, tag])), None)


def card_key(encoded):
    """(n, e) of an RSA-2048 key in the card's encoding `90 len e 91 82 01 00 n`, or None."""
    if len(encoded) < 2 or encoded[0] != 0x90 or encoded[1] > 8:
        return None
    e, rest = encoded[2:2 + encoded[1]], encoded[2 + encoded[1]:]
    if rest[:4] != b"\x91\x82\x01\x00" or len(rest) != 4 + 256:
        return None
    return int.from_bytes(rest[4:], "big"), int.from_bytes(e, "big")


def pkcs1_verifies(key, digest_info, signature):
    """PKCS#1 v1.5 type 1 over a whole DigestInfo, by hand: the card face's DigestInfo carries
    three digests, which no hash-based API takes."""
    if key is None or len(signature) != 256:
        return False
    n, e = key
    block = pow(int.from_bytes(signature, "big"), e, n).to_bytes(256, "big")
    return block == b"\x00\x01" + b"\xff" * (256 - 3 - len(digest_info)) + b"\x00" + digest_info


def read_file(card, name):
    """A whole transparent file, in 256-byte reads."""
    data = bytearray()
    while len(data) <= 16384:
        chunk, sw = card.send([0x00, 0xB0, len(data) >> 8, len(data) & 0xFF, 0x00])
        if sw == 0x6B00 and data:
            break
        if sw != 0x9000:
            raise Rejected("protocol_error", f"READ {name} answered {sw:04X}")
        data += chunk
        if len(chunk) < 256:
            break
    return bytes(data)


def confirm_face(card, env):
    """FLOW-3 by face recognition: verification number B (what the camera read) opens the card
    surface; its certificate (under the trusted card-surface CA), the card face's signature and
    a fresh challenge to the card's own key prove it genuine; the face is compared; then back to
    JPKI, with no PIN."""
    card.expect_ok([0x00, 0xA4, 0x04, 0x0C, len(CARD_SURFACE_AID)] + CARD_SURFACE_AID, "SELECT card surface")
    card.select_file(NUMBER_B)
    surface = list(env.get("MYNATAP_CARD_SURFACE", "").encode())
    card.expect_ok([0x00, 0x20, 0x00, 0x80, len(surface)] + surface, "VERIFY number B")
    card.select_file(SURFACE_CERTIFICATE)
    certificate = read_file(card, "card-surface certificate")
    card.select_file(SURFACE_ENTRIES)
    entries = read_file(card, "entries")
    parts = {tag: value for tag, value, _ in tlv_items(certificate, b"\x7f\x21")}
    body, signature = parts.get(b"\x5f\x4e"), parts.get(b"\x5f\x37")
    with open(env["MYNATAP_SURFACE_CA"], "rb") as handle:
        surface_ca = card_key(handle.read())
    if body is None or signature is None or len(body) != 297:
        raise Rejected("card_not_genuine", "00 04 is not a card-verifiable certificate")
    if not pkcs1_verifies(surface_ca, SHA256_DIGEST_INFO + hashlib.sha256(body).digest(), signature):
        raise Rejected("card_not_genuine", "00 04 is not issued by the trusted card-surface CA")
    signer = card_key(body[32:])
    items = {tag: whole for tag, _, whole in tlv_items(entries, b"\xff\x20")}
    groups = [b"".join(items.get(bytes([0xDF, t]), b"") for t in tags) for tags in ((0x22, 0x23, 0x24), (0x25, 0x26), (0x27,))]
    digests = b"".join(hashlib.sha256(group).digest() for group in groups)
    if not pkcs1_verifies(signer, THREE_DIGEST_INFO + digests, find_entry(entries, 0x28) or b""):
        raise Rejected("card_not_genuine", "the card face's signature does not verify")
    face = find_entry(entries, 0x27)
    if face is None or not face.startswith(JP2_SIGNATURE):
        raise Rejected("protocol_error", "no JPEG 2000 face image on the card")
    # This chip, not a copy of its files: its own key (the one in DF 24) signs a fresh challenge.
    digest_info = SHA256_DIGEST_INFO + hashlib.sha256(secrets.token_bytes(32)).digest()
    answer, sw = card.send([0x80, 0x2A, 0x00, 0x00, len(digest_info)] + list(digest_info) + [0x00])
    if sw != 0x9000 or not pkcs1_verifies(card_key(find_entry(entries, 0x24) or b""), digest_info, answer):
        raise Rejected("card_not_genuine", "the card's answer to the challenge does not verify")
    if env.get("MYNATAP_FACE_MATCH") != "true":
        raise Rejected("face_not_matched")
    card.expect_ok([0x00, 0xA4, 0x04, 0x0C, len(JPKI_AID)] + JPKI_AID, "SELECT JPKI")


def http_get(url, timeout):
    """(status, body); a back end that cannot be reached or answers too late is
    service_unavailable: the terminal fails closed, it never guesses."""
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        return error.code, b""
    except (urllib.error.URLError, OSError) as error:
        raise Rejected("service_unavailable", f"{url}: {error}") from error
    if time.monotonic() > deadline:
        raise Rejected("service_unavailable", f"{url}: answered after {timeout} s")
    return status, body


def backend_urls(env):
    """The back ends' URLs: from MYNATAP_URLS_FILE (contract 1.3: the tap's token never sits in
    the environment), else MYNATAP_CRL_URL and MYNATAP_ELIGIBILITY_URL (contract 1.1-1.2)."""
    path = env.get("MYNATAP_URLS_FILE")
    if path is None:
        return env["MYNATAP_CRL_URL"], env["MYNATAP_ELIGIBILITY_URL"]
    with open(path, encoding="utf-8") as file:
        urls = json.load(file)
    return urls["crl_url"], urls["eligibility_url"]


def tap(env):
    crl_base, eligibility_base = backend_urls(env)
    now = datetime.datetime.fromisoformat(env["MYNATAP_NOW"])
    # X.509 times have whole seconds: 23:59:59.900 still falls in a notAfter of 23:59:59.
    now_utc = now.astimezone(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)
    selected = env["MYNATAP_SELECTED"]
    timeout_ms = int(env["MYNATAP_TIMEOUT_MS"])
    backend_timeout = int(env.get("MYNATAP_BACKEND_TIMEOUT_MS", "2000")) / 1000.0
    # FLOW-1: a facility without phone support only takes the physical card (Q16).
    if env["MYNATAP_PHONE_SUPPORT"] != "true" and selected != "card":
        return {"outcome": "not_offered"}
    anchors = trusted_authorities(env)

    reader = env["MYNATAP_READER"]
    # Contract 1.3: the card may arrive after the request. A card in the field then is the last
    # patient's, left lying: wait for it to go, and for this tap's to arrive.
    if env.get("MYNATAP_CARD_ARRIVAL") == "after_request":
        if not (wait_for(reader, False, 5.0) and wait_for(reader, True, 5.0)):
            raise Rejected("card_removed", "no card arrived")
    again = int(env.get("MYNATAP_CARD_AGAIN_MS", "0")) / 1000.0
    while True:
        card = Card(reader, timeout_ms)
        try:
            return judge_card(env, card, now, now_utc, selected, backend_timeout, anchors, crl_base)
        except Rejected as rejected:
            # Pulled away mid-tap: the patient may hold it again within the window; the flow then
            # starts over on the new arrival (a new connection, a fresh challenge).
            if not (rejected.removal and again > 0 and wait_for(reader, False, again) and wait_for(reader, True, again)):
                raise
        finally:
            # Let go of the card at once: a long-running reader must not hold it past its verdict.
            card.close()


def judge_card(env, card, now, now_utc, selected, backend_timeout, anchors, crl_base):
    """FLOW-2 to FLOW-5 on a connected card."""
    card.expect_ok([0x00, 0xA4, 0x04, 0x0C, len(JPKI_AID)] + JPKI_AID, "SELECT JPKI")
    # FLOW-2: the token label says what the device is.
    card.select_file(TOKEN_INFO)
    label = card.expect_ok([0x00, 0xB0, 0x00, 0x00, 0x20], "READ token").decode("ascii", "replace").rstrip(" \0")
    device = LABELS.get(label)
    if device is None:
        raise Rejected("protocol_error", f"unknown token label {label!r}")
    if device != selected:
        raise Rejected("wrong_device_type", f"chose {selected}, device is {device}")
    # FLOW-3: card and Android present the typed PIN once; an iPhone unlocks on the phone; a
    # card by face recognition opens its card surface instead, and signs nothing.
    face = device == "card" and env.get("MYNATAP_CARD_AUTH") == "face"
    if face:
        confirm_face(card, env)
    elif device != "iphone":
        card.select_file(AUTH_PIN)
        typed = env.get("MYNATAP_PIN", "")
        # A JPKI PIN is 4 digits: anything else cannot be right and is never sent.
        if len(typed) != 4 or not typed.isascii() or not typed.isdigit():
            raise Rejected("wrong_pin", "the PIN typed is not 4 digits")
        pin = list(typed.encode())
        _, sw = card.send([0x00, 0x20, 0x00, 0x80, len(pin)] + pin)
        if sw == 0x6984 or sw == 0x63C0:
            raise Rejected("pin_blocked")
        if sw & 0xFFF0 == 0x63C0:
            raise Rejected("wrong_pin")
        if sw != 0x9000:
            raise Rejected("protocol_error", f"VERIFY answered {sw:04X}")

    # FLOW-4: the certificate, its chain, its validity, its revocation status.
    der = card.read_certificate()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            certificate = x509.load_der_x509_certificate(der)
    except (ValueError, Warning) as error:
        # A whole certificate that breaks RFC 5280 (a negative serial) is untrusted; bytes that
        # are no certificate at all break the protocol.
        try:
            is_certificate = der[0] == 0x30 and len(der_elements(der_elements(der)[0][2])) == 3
        except (IndexError, ValueError):
            is_certificate = False
        if is_certificate:
            raise Rejected("untrusted_certificate", f"certificate outside RFC 5280: {error}") from error
        raise Rejected("protocol_error", f"certificate does not parse: {error}") from error
    # Generations of the authority share one name (contract 1.3): the issuer is the one whose key
    # verifies the signature; the authority key identifier only says which to try first.
    issuer_index = issuing_authority(anchors, certificate)
    if issuer_index is None:
        raise Rejected("untrusted_certificate", "no trusted CA of the issuer's name verifies the signature")
    ca = anchors[issuer_index]
    violation = profile_violation(certificate, der)
    if violation:
        raise Rejected("untrusted_certificate", violation)
    # Validity, and (contract 1.2) the physical card's three-month grace after expiry and the
    # warning in the three months before it. Dates are Japan's.
    contract = env.get("MYNATAP_CONTRACT", "1.1")
    grace_rules = contract not in ("1", "1.0", "1.1")
    jst = datetime.timezone(datetime.timedelta(hours=9))
    today = now.astimezone(jst).date()
    expiry = certificate.not_valid_after.replace(tzinfo=datetime.timezone.utc).astimezone(jst).date()
    if now_utc < certificate.not_valid_before:
        raise Rejected("certificate_expired", "not yet valid")
    grace = False
    if now_utc > certificate.not_valid_after:
        if not (grace_rules and device == "card" and today <= grace_last_day(expiry)):
            raise Rejected("certificate_expired")
        grace = True
    expiring_soon = grace_rules and not grace and today >= expiring_soon_from(expiry)
    flags = {"grace": grace, "expiring_soon": expiring_soon} if grace_rules else {}

    # Without a fresh CRL whose signature verifies, the revocation status is unknown: fail closed.
    # Each generation's CRL covers its own certificates: `?ca=K` names the K-th authority.
    crl_url = crl_base + (f"?ca={issuer_index + 1}" if len(anchors) > 1 else "")
    status, der = http_get(crl_url, backend_timeout)
    if status != 200:
        raise Rejected("service_unavailable", f"CRL fetch answered {status}")
    try:
        crl = x509.load_der_x509_crl(der)
    except ValueError as error:
        raise Rejected("service_unavailable", f"CRL does not parse: {error}") from error
    if crl.issuer != ca.subject or not crl.is_signature_valid(ca.public_key()):
        raise Rejected("service_unavailable", "CRL is not the trusted CA's")
    crl_problem = crl_violation(crl) or issuer_cannot_sign_crls(ca)
    if crl_problem:
        raise Rejected("service_unavailable", crl_problem)
    if crl.next_update is None or now_utc > crl.next_update:
        raise Rejected("service_unavailable", f"CRL is stale (nextUpdate {crl.next_update})")
    entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
    if entry is not None:
        try:
            reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            reason = None
        if reason == x509.ReasonFlags.certificate_hold:
            raise Rejected("certificate_suspended")
        raise Rejected("certificate_revoked")

    # The device signs a fresh challenge: RSA (the physical card) pads a SHA-256 DigestInfo and
    # answers 256 bytes; ECDSA (phones, modeled) signs the digest and answers r || s.
    if face:
        return eligibility(env, certificate, now, backend_timeout, flags)
    digest = hashlib.sha256(secrets.token_bytes(32)).digest()
    public_key = certificate.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        data, expected_len = SHA256_DIGEST_INFO + digest, public_key.key_size // 8
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        data, expected_len = digest, 2 * ((public_key.curve.key_size + 7) // 8)
    else:
        raise Rejected("protocol_error", "certificate key is neither RSA nor EC")
    card.select_file(AUTH_KEY)
    signature, sw = card.send([0x80, 0x2A, 0x00, 0x80, len(data)] + list(data) + [0x00])
    if sw == 0x6982 and device == "iphone":
        raise Rejected("user_not_verified")
    if sw != 0x9000 or len(signature) != expected_len:
        raise Rejected("protocol_error", f"sign answered {sw:04X} with {len(signature)} bytes")
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        else:
            half = expected_len // 2
            r, s = int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
            public_key.verify(utils.encode_dss_signature(r, s), digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    except (InvalidSignature, ValueError) as error:
        raise Rejected("signature_invalid") from error

    return eligibility(env, certificate, now, backend_timeout, flags)


def month_shift(year, month, months):
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def grace_last_day(expiry):
    """MHLW: the card serves through the last day of the third month after the month of expiry."""
    year, month = month_shift(expiry.year, expiry.month, 3)
    return datetime.date(year, month, calendar.monthrange(year, month)[1])


def expiring_soon_from(expiry):
    """The same day three months before expiry, or that month's last day where it has none."""
    year, month = month_shift(expiry.year, expiry.month, -3)
    return datetime.date(year, month, min(expiry.day, calendar.monthrange(year, month)[1]))


# QualificationValidity of the eligibility answer: what each code makes of the tap.
REJECTED_VALIDITY = {"2": "insurance_expired", "3": "newer_qualification", "4": "no_qualification", "5": "multiple_records"}


def eligibility(env, certificate, now, backend_timeout, flags):
    """Only now, with a verified certificate and holder, ask the eligibility service."""
    status, body = http_get(f"{backend_urls(env)[1]}?serial={certificate.serial_number:X}", backend_timeout)
    if status == 404:
        raise Rejected("not_registered")
    if status != 200:
        raise Rejected("service_unavailable", f"eligibility answered {status}")
    try:
        record = json.loads(body)
        insurer = record["insurer"]
        valid_from = datetime.date.fromisoformat(record["valid_from"])
        valid_until = datetime.date.fromisoformat(record["valid_until"])
        if not isinstance(insurer, str) or not insurer:
            raise ValueError("no insurer")
        validity = record.get("QualificationValidity", "1")
        if validity not in ("1",) and validity not in REJECTED_VALIDITY:
            raise ValueError(f"QualificationValidity {validity!r}")
        ratio = record.get("InsuredPartialContributionRatio")
        copay = int(ratio) if ratio is not None else None
    except (ValueError, KeyError, TypeError) as error:
        raise Rejected("service_unavailable", f"eligibility answer is not a record: {error}") from error
    if validity in REJECTED_VALIDITY:
        raise Rejected(REJECTED_VALIDITY[validity])
    today = now.astimezone(datetime.timezone(datetime.timedelta(hours=9))).date()
    if not valid_from <= today <= valid_until:
        raise Rejected("insurance_expired")
    verdict = {"outcome": "verified", "insurer": insurer}
    if flags:
        verdict.update(flags)
        if copay is not None:
            verdict["copay"] = copay
    if env.get("MYNATAP_CONTRACT", "1.1") >= "1.3":
        # What the clinic's screen is given: the names exactly as the answer has them (never
        # through Shift_JIS), and the consent recorded (nothing in the card's grace, FLOW-5).
        for field, element in (("name", "Name"), ("kana", "NameKana")):
            if isinstance(record.get(element), str):
                verdict[field] = record[element]
        chosen = json.loads(env.get("MYNATAP_CONSENT") or "{}")
        every = bool(chosen.get("all"))
        recorded = {key: not flags.get("grace") and (every or bool(chosen.get(key))) for key in ("medication", "checkups", "surgery")}
        verdict["consent"] = recorded
    return verdict


def verdict_of(env):
    try:
        return tap(env)
    except Rejected as rejection:
        return {"outcome": "rejected", "reason": rejection.reason}


def main():
    if "--session" not in sys.argv[1:]:
        # Process mode: one tap, told by the environment.
        print(json.dumps(verdict_of(os.environ)), flush=True)
        return 0
    # Session mode: a request line per tap (the same variables, as a JSON object), a verdict
    # line each, until stdin ends. What a tap learns is not kept for the next.
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        print(json.dumps(verdict_of(request)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
