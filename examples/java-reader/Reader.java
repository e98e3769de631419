// A reader program for `mynatap certify`, in Java with the JDK alone: javax.smartcardio for the
// card, java.security.cert for certificates and CRLs, java.net.http for the back ends.
//
// It follows the adapter contract of docs/certification.md in both of its modes:
//   process mode: one tap, told by the environment, one verdict line on stdout;
//   session mode (--session): a JSON request line per tap on stdin, a verdict line each.
// Nothing here is mynatap code: it shows the contract is language-neutral. Logging goes to
// stderr: stdout carries verdict lines and nothing else.
//
// Build: javac -d build examples/java-reader/Reader.java
// Run:   mynatap certify --reader-session 'java -cp build Reader --session'
// (Debian's JDK looks for libpcsclite.so: install libpcsclite-dev, or give
//  -Dsun.security.smartcardio.library=/usr/lib/x86_64-linux-gnu/libpcsclite.so.1)

import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.CRLReason;
import java.security.cert.CertificateFactory;
import java.security.cert.X509CRL;
import java.security.cert.X509CRLEntry;
import java.security.cert.X509Certificate;
import java.security.interfaces.ECPublicKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.RSAPublicKeySpec;
import java.time.Duration;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Date;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.smartcardio.Card;
import javax.smartcardio.CardChannel;
import javax.smartcardio.CardException;
import javax.smartcardio.CardTerminal;
import javax.smartcardio.CommandAPDU;
import javax.smartcardio.ResponseAPDU;
import javax.smartcardio.TerminalFactory;

public final class Reader {
    static final byte[] JPKI_AID = hex("D392F000260100000001");
    static final byte[] CARD_SURFACE_AID = hex("D3921000310001010402");
    static final byte[] TOKEN_INFO = hex("0006"), AUTH_CERT = hex("000A"), AUTH_PIN = hex("0018"), AUTH_KEY = hex("0017");
    static final byte[] NUMBER_B = hex("0012"), SURFACE_ENTRIES = hex("0002"), SURFACE_CERTIFICATE = hex("0004");
    static final byte[] SHA256_DIGEST_INFO = hex("3031300d060960864801650304020105000420");
    static final byte[] THREE_DIGEST_INFO = hex("3071300d060960864801650304020105000460");
    static final byte[] JP2_SIGNATURE = hex("0000000c6a5020200d0a870a");
    static final String USER_AUTHENTICATION_POLICY = "1.2.392.200149.8.5.1.0.30";
    static final Set<String> UNDERSTOOD_CRITICAL = Set.of("2.5.29.15", "2.5.29.19", "2.5.29.32", "2.5.29.37", "2.5.29.17", "2.5.29.30", "2.5.29.36", "2.5.29.54");
    static final Set<String> UNDERSTOOD_CRL_EXTENSIONS = Set.of("2.5.29.20", "2.5.29.35", "2.5.29.18", "2.5.29.28", "2.5.29.27");
    static final Set<String> UNDERSTOOD_ENTRY_EXTENSIONS = Set.of("2.5.29.21", "2.5.29.24", "2.5.29.29");
    static final Map<String, String> LABELS = Map.of("JPKIAPICCTOKEN2", "card", "JPKIAPGPSETOKEN", "android", "JPKIAPIOSTOKEN", "iphone");
    static final Map<String, String> REJECTED_VALIDITY = Map.of("2", "insurance_expired", "3", "newer_qualification", "4", "no_qualification", "5", "multiple_records");
    static final ZoneOffset JST = ZoneOffset.ofHours(9);
    static final SecureRandom RANDOM = new SecureRandom();
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    /** The tap ends with a rejection reason of the scenario format. */
    static final class Rejected extends Exception {
        final String reason;
        /** The card left the field (not a late answer): the patient may hold it again. */
        boolean removal;

        Rejected(String reason, String detail) {
            super(reason + ": " + detail);
            this.reason = reason;
        }
    }

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
        if (!Arrays.asList(args).contains("--session")) {
            out.println(verdictOf(System.getenv()));
            return;
        }
        // Session mode: what a tap learns is not kept for the next. Kept: the PC/SC context and
        // reader, and the parsed trust anchors while their file's bytes are unchanged.
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            if (line.isBlank()) continue;
            Map<String, String> request = new HashMap<>();
            for (Map.Entry<String, Object> member : Json.object(line).entrySet()) {
                if (member.getValue() instanceof String) request.put(member.getKey(), (String) member.getValue());
            }
            out.println(verdictOf(request));
        }
    }

    static String verdictOf(Map<String, String> env) throws Exception {
        try {
            return Json.write(tap(env));
        } catch (Rejected rejection) {
            System.err.println(rejection.getMessage());
            Map<String, Object> verdict = new LinkedHashMap<>();
            verdict.put("outcome", "rejected");
            verdict.put("reason", rejection.reason);
            return Json.write(verdict);
        }
    }

    // ---- the card -------------------------------------------------------------------------

    /** A PC/SC connection held alone (a transaction) that turns every failure into a reason. */
    static final class Device implements AutoCloseable {
        final Card card;
        final CardChannel channel;
        final long timeoutMs;

        Device(CardTerminal terminal, long timeoutMs) throws Rejected {
            this.timeoutMs = timeoutMs;
            // The card is this reader's alone during the tap (contract 1.3): javax.smartcardio
            // connects shared, so hold a transaction for the whole tap. Another client may hold it
            // for a moment (a probe): try again for up to two seconds.
            card = connectAlone(terminal);
            channel = card.getBasicChannel();
        }

        private static Card connectAlone(CardTerminal terminal) throws Rejected {
            long deadline = System.nanoTime() + 2_000_000_000L;
            while (true) {
                try {
                    Card connected = terminal.connect("*");
                    try {
                        connected.beginExclusive();
                    } catch (CardException e) {
                        connected.disconnect(false);
                        throw e;
                    }
                    return connected;
                } catch (CardException e) {
                    if (System.nanoTime() > deadline) {
                        // Perhaps the reader itself went (pcscd restarted): find it again next tap.
                        TERMINALS.clear();
                        throw new Rejected("card_removed", e.toString());
                    }
                    sleep(10);
                }
            }
        }

        /** One APDU: the response (data and status). A late or missing answer: the card is gone. */
        ResponseAPDU send(byte[] apdu) throws Rejected {
            long started = System.nanoTime();
            ResponseAPDU response;
            try {
                response = channel.transmit(new CommandAPDU(apdu));
            } catch (CardException | IllegalStateException | IllegalArgumentException e) {
                // A card that left mid-command answers nothing (not even a status word).
                Rejected removed = new Rejected("card_removed", e.toString());
                removed.removal = true;
                throw removed;
            }
            if ((System.nanoTime() - started) / 1_000_000 > timeoutMs) throw new Rejected("card_removed", "no response within the timeout");
            return response;
        }

        byte[] expectOk(byte[] apdu, String what) throws Rejected {
            ResponseAPDU response = send(apdu);
            if (response.getSW() != 0x9000) throw new Rejected("protocol_error", what + " answered " + Integer.toHexString(response.getSW()));
            return response.getData();
        }

        void select(byte[] aid, String what) throws Rejected {
            expectOk(concat(hex("00A4040C"), new byte[] {(byte) aid.length}, aid), what);
        }

        void selectFile(byte[] fid) throws Rejected {
            expectOk(concat(hex("00A4020C02"), fid), "SELECT file");
        }

        byte[] readCertificate() throws Rejected {
            selectFile(AUTH_CERT);
            byte[] head = expectOk(hex("00B0000004"), "READ header");
            if (head.length != 4 || head[0] != 0x30 || (head[1] & 0xFF) != 0x82) throw new Rejected("protocol_error", "certificate header is not a DER SEQUENCE");
            int total = (((head[2] & 0xFF) << 8) | (head[3] & 0xFF)) + 4;
            ByteArrayOutputStream der = new ByteArrayOutputStream();
            der.writeBytes(head);
            while (der.size() < total) {
                int chunk = Math.min(256, total - der.size());
                byte[] data = expectOk(new byte[] {0x00, (byte) 0xB0, (byte) (der.size() >> 8), (byte) der.size(), (byte) chunk}, "READ");
                if (data.length == 0 || data.length > chunk) throw new Rejected("protocol_error", "truncated certificate");
                der.writeBytes(data);
            }
            return der.toByteArray();
        }

        /** A whole transparent file, in 256-byte reads. */
        byte[] readFile(String name) throws Rejected {
            ByteArrayOutputStream data = new ByteArrayOutputStream();
            while (data.size() <= 16384) {
                ResponseAPDU response = send(new byte[] {0x00, (byte) 0xB0, (byte) (data.size() >> 8), (byte) data.size(), 0x00});
                if (response.getSW() == 0x6B00 && data.size() > 0) break;
                if (response.getSW() != 0x9000) throw new Rejected("protocol_error", "READ " + name + " answered " + Integer.toHexString(response.getSW()));
                data.writeBytes(response.getData());
                if (response.getData().length < 256) break;
            }
            return data.toByteArray();
        }

        @Override
        public void close() {
            // Let go of the card at once: a long-running reader must not hold it past its verdict.
            try {
                card.endExclusive();
            } catch (CardException | IllegalStateException ignored) {
                // The card left: nothing to let go of.
            }
            try {
                card.disconnect(false);
            } catch (CardException | IllegalStateException ignored) {
                // Likewise.
            }
        }
    }

    // ---- one tap ---------------------------------------------------------------------------

    static Map<String, Object> tap(Map<String, String> env) throws Exception {
        String[] urls = backendUrls(env);
        OffsetDateTime now = OffsetDateTime.parse(env.get("MYNATAP_NOW"));
        String selected = env.get("MYNATAP_SELECTED");
        long timeoutMs = Long.parseLong(env.get("MYNATAP_TIMEOUT_MS"));
        Duration backendTimeout = Duration.ofMillis(Long.parseLong(env.getOrDefault("MYNATAP_BACKEND_TIMEOUT_MS", "2000")));
        // FLOW-1: a facility without phone support only takes the physical card (Q16).
        if (!"true".equals(env.get("MYNATAP_PHONE_SUPPORT")) && !"card".equals(selected)) {
            Map<String, Object> verdict = new LinkedHashMap<>();
            verdict.put("outcome", "not_offered");
            return verdict;
        }
        List<X509Certificate> anchors = trustedAuthorities(env);
        CardTerminal terminal = terminal(env.get("MYNATAP_READER"));
        // Contract 1.3: the card may arrive after the request. A card in the field then is the
        // last patient's, left lying: wait for it to go, and for this tap's to arrive.
        if ("after_request".equals(env.get("MYNATAP_CARD_ARRIVAL"))) {
            if (!waitFor(terminal, false, 5000) || !waitFor(terminal, true, 5000)) throw new Rejected("card_removed", "no card arrived");
        }
        long againMs = Long.parseLong(env.getOrDefault("MYNATAP_CARD_AGAIN_MS", "0"));
        while (true) {
            try (Device card = new Device(terminal, timeoutMs)) {
                return judgeCard(env, card, now, selected, backendTimeout, anchors, urls);
            } catch (Rejected rejected) {
                // Pulled away mid-tap: the patient may hold it again within the window; the flow
                // then starts over on the new arrival (a new connection, a fresh challenge).
                if (!rejected.removal || againMs == 0 || !waitFor(terminal, false, againMs) || !waitFor(terminal, true, againMs)) throw rejected;
            }
        }
    }

    /** The reader found last, by name: a session keeps its PC/SC context and reader between taps. */
    static final Map<String, CardTerminal> TERMINALS = new HashMap<>();

    static CardTerminal terminal(String readerName) throws Rejected {
        CardTerminal known = TERMINALS.get(readerName);
        if (known != null) return known;
        CardTerminal terminal;
        try {
            terminal = TerminalFactory.getDefault().terminals().getTerminal(readerName);
        } catch (RuntimeException e) {
            throw new Rejected("card_removed", "no PC/SC: " + e);
        }
        if (terminal == null) throw new Rejected("card_removed", "no reader " + readerName);
        TERMINALS.put(readerName, terminal);
        return terminal;
    }

    /** Waits up to `ms` for a card to be present (or absent); false when it did not come (or go). */
    static boolean waitFor(CardTerminal terminal, boolean present, long ms) {
        try {
            return present ? terminal.waitForCardPresent(ms) : terminal.waitForCardAbsent(ms);
        } catch (CardException e) {
            return false;
        }
    }

    static Map<String, Object> judgeCard(Map<String, String> env, Device card, OffsetDateTime now, String selected, Duration backendTimeout, List<X509Certificate> anchors, String[] urls)
            throws Exception {
        card.select(JPKI_AID, "SELECT JPKI");
        // FLOW-2: the token label says what the device is.
        card.selectFile(TOKEN_INFO);
        String label = new String(card.expectOk(hex("00B0000020"), "READ token"), StandardCharsets.US_ASCII).replaceAll("[ \\x00]+$", "");
        String device = LABELS.get(label);
        if (device == null) throw new Rejected("protocol_error", "unknown token label " + label);
        if (!device.equals(selected)) throw new Rejected("wrong_device_type", "chose " + selected + ", device is " + device);
        // FLOW-3: card and Android present the typed PIN once; an iPhone unlocks on the phone; a
        // card by face recognition opens its card surface instead, and signs nothing.
        boolean face = device.equals("card") && "face".equals(env.get("MYNATAP_CARD_AUTH"));
        if (face) {
            confirmFace(card, env);
        } else if (!device.equals("iphone")) {
            card.selectFile(AUTH_PIN);
            String typed = env.getOrDefault("MYNATAP_PIN", "");
            // A JPKI PIN is 4 digits: anything else cannot be right and is never sent.
            if (!typed.matches("[0-9]{4}")) throw new Rejected("wrong_pin", "the PIN typed is not 4 digits");
            int sw = card.send(concat(hex("0020008004"), typed.getBytes(StandardCharsets.US_ASCII))).getSW();
            if (sw == 0x6984 || sw == 0x63C0) throw new Rejected("pin_blocked", "");
            if ((sw & 0xFFF0) == 0x63C0) throw new Rejected("wrong_pin", "");
            if (sw != 0x9000) throw new Rejected("protocol_error", "VERIFY answered " + Integer.toHexString(sw));
        }

        // FLOW-4: the certificate, its issuer, its profile, its validity, its revocation status.
        byte[] der = card.readCertificate();
        X509Certificate certificate;
        try {
            certificate = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(new ByteArrayInputStream(der));
        } catch (Exception e) {
            // A whole certificate outside RFC 5280 is untrusted; bytes that are no certificate at
            // all break the protocol.
            throw new Rejected(Der.isCertificateShape(der) ? "untrusted_certificate" : "protocol_error", "certificate does not parse: " + e);
        }
        // Generations of the authority share one name (contract 1.3): the issuer is the one whose
        // key verifies the signature.
        int issuer = issuingAuthority(anchors, certificate);
        if (issuer < 0) throw new Rejected("untrusted_certificate", "no trusted CA of the issuer's name verifies the signature");
        X509Certificate ca = anchors.get(issuer);
        String violation = profileViolation(certificate);
        if (violation != null) throw new Rejected("untrusted_certificate", violation);
        // Validity, and (contract 1.2) the physical card's three-month grace after expiry and the
        // warning in the three months before it. Dates are Japan's.
        String contract = env.getOrDefault("MYNATAP_CONTRACT", "1.1");
        boolean graceRules = !Set.of("1", "1.0", "1.1").contains(contract);
        Date at = Date.from(now.withNano(0).toInstant());
        LocalDate today = now.atZoneSameInstant(JST).toLocalDate();
        LocalDate expiry = certificate.getNotAfter().toInstant().atOffset(JST).toLocalDate();
        if (at.before(certificate.getNotBefore())) throw new Rejected("certificate_expired", "not yet valid");
        boolean grace = false;
        if (at.after(certificate.getNotAfter())) {
            if (!(graceRules && device.equals("card") && !today.isAfter(graceLastDay(expiry)))) throw new Rejected("certificate_expired", "");
            grace = true;
        }
        boolean expiringSoon = graceRules && !grace && !today.isBefore(expiringSoonFrom(expiry));
        Map<String, Object> flags = new LinkedHashMap<>();
        if (graceRules) {
            flags.put("grace", grace);
            flags.put("expiring_soon", expiringSoon);
        }

        // Without a fresh CRL whose signature verifies, the revocation status is unknown: fail
        // closed. Each generation's CRL covers its own certificates: `?ca=K` names the K-th.
        String crlUrl = urls[0] + (anchors.size() > 1 ? "?ca=" + (issuer + 1) : "");
        Object[] fetched = httpGet(crlUrl, backendTimeout);
        if ((int) fetched[0] != 200) throw new Rejected("service_unavailable", "CRL fetch answered " + fetched[0]);
        X509CRL crl;
        try {
            crl = (X509CRL) CertificateFactory.getInstance("X.509").generateCRL(new ByteArrayInputStream((byte[]) fetched[1]));
        } catch (Exception e) {
            throw new Rejected("service_unavailable", "CRL does not parse: " + e);
        }
        if (!crl.getIssuerX500Principal().equals(ca.getSubjectX500Principal())) throw new Rejected("service_unavailable", "CRL is not the issuer's");
        try {
            crl.verify(ca.getPublicKey());
        } catch (Exception e) {
            throw new Rejected("service_unavailable", "CRL signature does not verify under the issuer's key");
        }
        String crlProblem = crlViolation(crl, ca);
        if (crlProblem != null) throw new Rejected("service_unavailable", crlProblem);
        if (crl.getNextUpdate() == null || at.after(crl.getNextUpdate())) throw new Rejected("service_unavailable", "CRL is stale");
        X509CRLEntry entry = crl.getRevokedCertificate(certificate.getSerialNumber());
        if (entry != null) {
            if (entry.getRevocationReason() == CRLReason.CERTIFICATE_HOLD) throw new Rejected("certificate_suspended", "");
            throw new Rejected("certificate_revoked", "");
        }

        // The device signs a fresh challenge: RSA (the physical card) pads a SHA-256 DigestInfo
        // and answers 256 bytes; ECDSA (phones, modeled) signs the digest and answers r || s.
        if (!face) {
            byte[] challenge = new byte[32];
            RANDOM.nextBytes(challenge);
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(challenge);
            PublicKey key = certificate.getPublicKey();
            byte[] data;
            int expectedLength;
            if (key instanceof RSAPublicKey) {
                data = concat(SHA256_DIGEST_INFO, digest);
                expectedLength = (((RSAPublicKey) key).getModulus().bitLength() + 7) / 8;
            } else if (key instanceof ECPublicKey) {
                data = digest;
                expectedLength = 2 * ((((ECPublicKey) key).getParams().getCurve().getField().getFieldSize() + 7) / 8);
            } else {
                throw new Rejected("protocol_error", "certificate key is neither RSA nor EC");
            }
            card.selectFile(AUTH_KEY);
            ResponseAPDU answer = card.send(concat(hex("802A0080"), new byte[] {(byte) data.length}, data, new byte[] {0x00}));
            if (answer.getSW() == 0x6982 && device.equals("iphone")) throw new Rejected("user_not_verified", "");
            byte[] signature = answer.getData();
            if (answer.getSW() != 0x9000 || signature.length != expectedLength) throw new Rejected("protocol_error", "sign answered " + Integer.toHexString(answer.getSW()));
            boolean good;
            try {
                if (key instanceof RSAPublicKey) {
                    Signature verifier = Signature.getInstance("NONEwithRSA");
                    verifier.initVerify(key);
                    verifier.update(data);
                    good = verifier.verify(signature);
                } else {
                    Signature verifier = Signature.getInstance("NONEwithECDSA");
                    verifier.initVerify(key);
                    verifier.update(digest);
                    good = verifier.verify(Der.ecdsaSignature(signature));
                }
            } catch (Exception e) {
                good = false;
            }
            if (!good) throw new Rejected("signature_invalid", "");
        }
        return eligibility(env, certificate, now, backendTimeout, flags, urls[1], grace);
    }

    /** FLOW-3 by face recognition (docs/certification.md, the face path). */
    static void confirmFace(Device card, Map<String, String> env) throws Exception {
        card.select(CARD_SURFACE_AID, "SELECT card surface");
        card.selectFile(NUMBER_B);
        byte[] surface = env.getOrDefault("MYNATAP_CARD_SURFACE", "").getBytes(StandardCharsets.US_ASCII);
        card.expectOk(concat(hex("00200080"), new byte[] {(byte) surface.length}, surface), "VERIFY number B");
        card.selectFile(SURFACE_CERTIFICATE);
        byte[] certificate = card.readFile("card-surface certificate");
        card.selectFile(SURFACE_ENTRIES);
        byte[] entries = card.readFile("entries");
        Map<String, byte[]> parts = Tlv.items(certificate, "7F21");
        byte[] body = parts.get("5F4E"), signature = parts.get("5F37");
        RSAPublicKey surfaceCa = cardKey(Files.readAllBytes(Path.of(env.get("MYNATAP_SURFACE_CA"))));
        if (body == null || signature == null || body.length != 297) throw new Rejected("card_not_genuine", "00 04 is not a card-verifiable certificate");
        MessageDigest sha256 = MessageDigest.getInstance("SHA-256");
        if (!pkcs1Verifies(surfaceCa, concat(SHA256_DIGEST_INFO, sha256.digest(body)), signature)) throw new Rejected("card_not_genuine", "00 04 is not issued by the trusted card-surface CA");
        RSAPublicKey signer = cardKey(Arrays.copyOfRange(body, 32, body.length));
        Map<String, byte[]> whole = Tlv.wholeItems(entries, "FF20");
        ByteArrayOutputStream digests = new ByteArrayOutputStream();
        for (String[] group : new String[][] {{"DF22", "DF23", "DF24"}, {"DF25", "DF26"}, {"DF27"}}) {
            ByteArrayOutputStream joined = new ByteArrayOutputStream();
            for (String tag : group) joined.writeBytes(whole.getOrDefault(tag, new byte[0]));
            digests.writeBytes(sha256.digest(joined.toByteArray()));
        }
        Map<String, byte[]> values = Tlv.items(entries, "FF20");
        if (!pkcs1Verifies(signer, concat(THREE_DIGEST_INFO, digests.toByteArray()), values.getOrDefault("DF28", new byte[0]))) throw new Rejected("card_not_genuine", "the card face's signature does not verify");
        byte[] face = values.get("DF27");
        if (face == null || face.length < JP2_SIGNATURE.length || !Arrays.equals(Arrays.copyOf(face, JP2_SIGNATURE.length), JP2_SIGNATURE)) throw new Rejected("protocol_error", "no JPEG 2000 face image on the card");
        // This chip, not a copy of its files: its own key (the one in DF 24) signs a challenge.
        byte[] challenge = new byte[32];
        RANDOM.nextBytes(challenge);
        byte[] digestInfo = concat(SHA256_DIGEST_INFO, sha256.digest(challenge));
        ResponseAPDU answer = card.send(concat(hex("802A0000"), new byte[] {(byte) digestInfo.length}, digestInfo, new byte[] {0x00}));
        if (answer.getSW() != 0x9000 || !pkcs1Verifies(cardKey(values.getOrDefault("DF24", new byte[0])), digestInfo, answer.getData())) throw new Rejected("card_not_genuine", "the card's answer to the challenge does not verify");
        if (!"true".equals(env.get("MYNATAP_FACE_MATCH"))) throw new Rejected("face_not_matched", "");
        card.select(JPKI_AID, "SELECT JPKI");
    }

    /** Only now, with a verified certificate and holder, ask the eligibility service. */
    static Map<String, Object> eligibility(Map<String, String> env, X509Certificate certificate, OffsetDateTime now, Duration timeout, Map<String, Object> flags, String url, boolean grace)
            throws Rejected {
        Object[] fetched = httpGet(url + "?serial=" + certificate.getSerialNumber().toString(16).toUpperCase(), timeout);
        int status = (int) fetched[0];
        if (status == 404) throw new Rejected("not_registered", "");
        if (status != 200) throw new Rejected("service_unavailable", "eligibility answered " + status);
        Map<String, Object> record;
        String insurer, validity;
        LocalDate validFrom, validUntil;
        Integer copay = null;
        try {
            record = Json.object(new String((byte[]) fetched[1], StandardCharsets.UTF_8));
            insurer = (String) record.get("insurer");
            if (insurer == null || insurer.isEmpty()) throw new IllegalArgumentException("no insurer");
            validFrom = LocalDate.parse((String) record.get("valid_from"));
            validUntil = LocalDate.parse((String) record.get("valid_until"));
            validity = (String) record.getOrDefault("QualificationValidity", "1");
            if (!validity.equals("1") && !REJECTED_VALIDITY.containsKey(validity)) throw new IllegalArgumentException("QualificationValidity " + validity);
            Object ratio = record.get("InsuredPartialContributionRatio");
            if (ratio != null) copay = Integer.parseInt((String) ratio);
        } catch (RuntimeException e) {
            throw new Rejected("service_unavailable", "eligibility answer is not a record: " + e);
        }
        if (REJECTED_VALIDITY.containsKey(validity)) throw new Rejected(REJECTED_VALIDITY.get(validity), "");
        LocalDate today = now.atZoneSameInstant(JST).toLocalDate();
        if (today.isBefore(validFrom) || today.isAfter(validUntil)) throw new Rejected("insurance_expired", "");
        Map<String, Object> verdict = new LinkedHashMap<>();
        verdict.put("outcome", "verified");
        verdict.put("insurer", insurer);
        if (!flags.isEmpty()) {
            verdict.putAll(flags);
            if (copay != null) verdict.put("copay", copay);
        }
        if (env.getOrDefault("MYNATAP_CONTRACT", "1.1").compareTo("1.3") >= 0) {
            // What the clinic's screen is given: the names as the answer has them (Java strings
            // keep every code point; only the output encoding could lose one: UTF-8 here), and
            // the consent recorded (nothing in the card's grace, FLOW-5).
            if (record.get("Name") instanceof String) verdict.put("name", record.get("Name"));
            if (record.get("NameKana") instanceof String) verdict.put("kana", record.get("NameKana"));
            Map<String, Object> chosen = Json.object(env.getOrDefault("MYNATAP_CONSENT", "{}").isEmpty() ? "{}" : env.getOrDefault("MYNATAP_CONSENT", "{}"));
            boolean all = Boolean.TRUE.equals(chosen.get("all"));
            Map<String, Object> recorded = new LinkedHashMap<>();
            for (String key : List.of("medication", "checkups", "surgery")) recorded.put(key, !grace && (all || Boolean.TRUE.equals(chosen.get(key))));
            verdict.put("consent", recorded);
        }
        return verdict;
    }

    // ---- certificates and CRLs ----------------------------------------------------------------

    /** The trust anchors last parsed, and the file bytes they were parsed from. */
    static byte[] anchorsRead = null;
    static List<X509Certificate> anchorsParsed = null;

    /**
     * Every trusted CA certificate, oldest generation first (MYNATAP_CA_CERTS, contract 1.3).
     * Read every tap (each tap's world has its own CA); parsed again only when the bytes change.
     */
    static List<X509Certificate> trustedAuthorities(Map<String, String> env) throws Exception {
        String path = env.get("MYNATAP_CA_CERTS");
        boolean bundle = path != null && !path.isEmpty();
        byte[] bytes = Files.readAllBytes(Path.of(bundle ? path : env.get("MYNATAP_CA_CERT")));
        if (anchorsParsed != null && Arrays.equals(bytes, anchorsRead)) return anchorsParsed;
        CertificateFactory factory = CertificateFactory.getInstance("X.509");
        List<X509Certificate> anchors = new ArrayList<>();
        for (java.security.cert.Certificate one : factory.generateCertificates(new ByteArrayInputStream(bytes))) anchors.add((X509Certificate) one);
        if (anchors.isEmpty() || (!bundle && anchors.size() != 1)) throw new Rejected("untrusted_certificate", "no trusted CA certificate in " + (bundle ? path : "MYNATAP_CA_CERT"));
        anchorsRead = bytes;
        anchorsParsed = List.copyOf(anchors);
        return anchorsParsed;
    }

    /** The index of the anchor whose key verifies the certificate, among those of its issuer's name. */
    static int issuingAuthority(List<X509Certificate> anchors, X509Certificate certificate) {
        for (int i = 0; i < anchors.size(); i++) {
            X509Certificate anchor = anchors.get(i);
            if (!anchor.getSubjectX500Principal().equals(certificate.getIssuerX500Principal())) continue;
            try {
                certificate.verify(anchor.getPublicKey());
                return i;
            } catch (Exception e) {
                // Another generation's key: try the next.
            }
        }
        return -1;
    }

    /** Why a certificate the CA signed is not a user-authentication certificate, or null. */
    static String profileViolation(X509Certificate certificate) throws Exception {
        if (certificate.getVersion() != 3) return "not an X.509 v3 certificate";
        byte[] tbs = certificate.getTBSCertificate();
        List<byte[]> fields = Der.children(Der.value(tbs));
        int first = (fields.get(0)[0] & 0xFF) == 0xA0 ? 1 : 0;
        byte[] innerAlgorithm = fields.get(first + 1);
        byte[] outerAlgorithm = Der.children(Der.value(certificate.getEncoded())).get(1);
        if (!Arrays.equals(innerAlgorithm, outerAlgorithm)) return "inner and outer signature algorithms differ";
        BigInteger serial = certificate.getSerialNumber();
        if (serial.signum() < 0) return "negative serial number";
        if (serial.signum() == 0 || serial.toByteArray().length > 21 || (serial.toByteArray().length == 21 && serial.toByteArray()[0] != 0)) return "serial number zero or over 20 octets";
        for (byte[] time : Der.children(Der.value(fields.get(first + 3)))) {
            if ((time[0] & 0xFF) == 0x18 && Integer.parseInt(new String(Der.value(time), 0, 4, StandardCharsets.US_ASCII)) < 2050) return "GeneralizedTime before 2050";
        }
        Set<String> critical = certificate.getCriticalExtensionOIDs();
        if (critical != null) {
            for (String oid : critical) if (!UNDERSTOOD_CRITICAL.contains(oid)) return "unknown critical extension " + oid;
        }
        boolean[] usage = certificate.getKeyUsage();
        if (usage == null || !usage[0]) return "keyUsage missing or without digitalSignature";
        if (certificate.getBasicConstraints() != -1) return "a CA certificate";
        List<String> purposes = certificate.getExtendedKeyUsage();
        if (purposes != null && !purposes.contains("1.3.6.1.5.5.7.3.2")) return "extendedKeyUsage without clientAuth";
        byte[] policies = certificate.getExtensionValue("2.5.29.32");
        if (policies == null || !Der.containsOid(policies, USER_AUTHENTICATION_POLICY)) return "without the user-authentication policy";
        return null;
    }

    /** Why a CRL may not be used for revocation status (RFC 5280 5.2, 5.3, 6.3.3), or null. */
    static String crlViolation(X509CRL crl, X509Certificate issuer) {
        Set<String> critical = crl.getCriticalExtensionOIDs();
        if (critical != null) {
            for (String oid : critical) if (!UNDERSTOOD_CRL_EXTENSIONS.contains(oid)) return "CRL has an unknown critical extension " + oid;
        }
        if (crl.getExtensionValue("2.5.29.20") == null) return "CRL has no CRL number";
        Set<? extends X509CRLEntry> entries = crl.getRevokedCertificates();
        if (entries != null) {
            for (X509CRLEntry entry : entries) {
                Set<String> entryCritical = entry.getCriticalExtensionOIDs();
                if (entryCritical == null) continue;
                for (String oid : entryCritical) if (!UNDERSTOOD_ENTRY_EXTENSIONS.contains(oid)) return "a CRL entry has an unknown critical extension " + oid;
            }
        }
        boolean[] usage = issuer.getKeyUsage();
        if (usage != null && !usage[6]) return "the CRL issuer's keyUsage lacks cRLSign";
        return null;
    }

    static LocalDate graceLastDay(LocalDate expiry) {
        LocalDate month = expiry.withDayOfMonth(1).plusMonths(3);
        return month.withDayOfMonth(month.lengthOfMonth());
    }

    static LocalDate expiringSoonFrom(LocalDate expiry) {
        LocalDate month = expiry.withDayOfMonth(1).minusMonths(3);
        return month.withDayOfMonth(Math.min(expiry.getDayOfMonth(), month.lengthOfMonth()));
    }

    /** An RSA key in the card's encoding `90 len e 91 82 01 00 n`, or null. */
    static RSAPublicKey cardKey(byte[] encoded) {
        try {
            if (encoded.length < 2 || (encoded[0] & 0xFF) != 0x90 || encoded[1] > 8) return null;
            int eLength = encoded[1];
            byte[] e = Arrays.copyOfRange(encoded, 2, 2 + eLength);
            byte[] rest = Arrays.copyOfRange(encoded, 2 + eLength, encoded.length);
            if (rest.length != 4 + 256 || !Arrays.equals(Arrays.copyOf(rest, 4), hex("91820100"))) return null;
            RSAPublicKeySpec spec = new RSAPublicKeySpec(new BigInteger(1, Arrays.copyOfRange(rest, 4, rest.length)), new BigInteger(1, e));
            return (RSAPublicKey) KeyFactory.getInstance("RSA").generatePublic(spec);
        } catch (Exception e) {
            return null;
        }
    }

    /** PKCS#1 v1.5 type 1 over a whole DigestInfo (the card face's carries three digests). */
    static boolean pkcs1Verifies(RSAPublicKey key, byte[] digestInfo, byte[] signature) {
        if (key == null || signature.length != 256) return false;
        try {
            Signature verifier = Signature.getInstance("NONEwithRSA");
            verifier.initVerify(key);
            verifier.update(digestInfo);
            return verifier.verify(signature);
        } catch (Exception e) {
            return false;
        }
    }

    // ---- the back ends -------------------------------------------------------------------------

    /** The back ends' URLs: from the request or MYNATAP_URLS_FILE (1.3), else the environment. */
    static String[] backendUrls(Map<String, String> env) throws Exception {
        String path = env.get("MYNATAP_URLS_FILE");
        if (path == null || path.isEmpty()) return new String[] {env.get("MYNATAP_CRL_URL"), env.get("MYNATAP_ELIGIBILITY_URL")};
        Map<String, Object> urls = Json.object(Files.readString(Path.of(path), StandardCharsets.UTF_8));
        return new String[] {(String) urls.get("crl_url"), (String) urls.get("eligibility_url")};
    }

    /** {status, body}; a back end that cannot be reached or answers too late is service_unavailable. */
    static Object[] httpGet(String url, Duration timeout) throws Rejected {
        long started = System.nanoTime();
        try {
            HttpRequest request = HttpRequest.newBuilder(URI.create(url)).timeout(timeout).GET().build();
            HttpResponse<byte[]> response = HTTP.send(request, HttpResponse.BodyHandlers.ofByteArray());
            if (System.nanoTime() - started > timeout.toNanos()) throw new Rejected("service_unavailable", url + ": answered too late");
            return new Object[] {response.statusCode(), response.body()};
        } catch (Rejected e) {
            throw e;
        } catch (Exception e) {
            throw new Rejected("service_unavailable", url + ": " + e);
        }
    }

    // ---- small helpers --------------------------------------------------------------------------

    static byte[] hex(String text) {
        byte[] out = new byte[text.length() / 2];
        for (int i = 0; i < out.length; i++) out[i] = (byte) Integer.parseInt(text.substring(2 * i, 2 * i + 2), 16);
        return out;
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] part : parts) out.writeBytes(part);
        return out.toByteArray();
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** DER, as far as a relying party's profile checks need it. */
    static final class Der {
        /** The value of the element at the start of `data`. */
        static byte[] value(byte[] data) {
            int[] head = head(data, 0);
            return Arrays.copyOfRange(data, head[0], head[0] + head[1]);
        }

        /** {value start, value length} of the element at `at`. */
        static int[] head(byte[] data, int at) {
            int length = data[at + 1] & 0xFF, start = at + 2;
            if ((length & 0x80) != 0) {
                int count = length & 0x7F;
                length = 0;
                for (int i = 0; i < count; i++) length = (length << 8) | (data[start + i] & 0xFF);
                start += count;
            }
            if (start + length > data.length) throw new IllegalArgumentException("truncated DER");
            return new int[] {start, length};
        }

        /** Each whole element inside `value`. */
        static List<byte[]> children(byte[] value) {
            List<byte[]> out = new ArrayList<>();
            int at = 0;
            while (at < value.length) {
                int[] head = head(value, at);
                out.add(Arrays.copyOfRange(value, at, head[0] + head[1]));
                at = head[0] + head[1];
            }
            return out;
        }

        /** A SEQUENCE of three elements: the shape of a certificate, whatever is inside. */
        static boolean isCertificateShape(byte[] der) {
            try {
                return der.length > 2 && der[0] == 0x30 && children(value(der)).size() == 3;
            } catch (RuntimeException e) {
                return false;
            }
        }

        /** Whether the DER-encoded OID `dotted` appears in `data`. */
        static boolean containsOid(byte[] data, String dotted) {
            String[] arcs = dotted.split("\\.");
            ByteArrayOutputStream body = new ByteArrayOutputStream();
            body.write(Integer.parseInt(arcs[0]) * 40 + Integer.parseInt(arcs[1]));
            for (int i = 2; i < arcs.length; i++) {
                long arc = Long.parseLong(arcs[i]);
                ByteArrayOutputStream digits = new ByteArrayOutputStream();
                digits.write((int) (arc & 0x7F));
                for (arc >>= 7; arc > 0; arc >>= 7) digits.write((int) (0x80 | (arc & 0x7F)));
                byte[] reversed = digits.toByteArray();
                for (int j = reversed.length - 1; j >= 0; j--) body.write(reversed[j]);
            }
            byte[] oid = concat(new byte[] {0x06, (byte) body.size()}, body.toByteArray());
            outer:
            for (int i = 0; i + oid.length <= data.length; i++) {
                for (int j = 0; j < oid.length; j++) if (data[i + j] != oid[j]) continue outer;
                return true;
            }
            return false;
        }

        /** r || s as a DER ECDSA-Sig-Value. */
        static byte[] ecdsaSignature(byte[] raw) {
            int half = raw.length / 2;
            byte[] r = new BigInteger(1, Arrays.copyOf(raw, half)).toByteArray();
            byte[] s = new BigInteger(1, Arrays.copyOfRange(raw, half, raw.length)).toByteArray();
            byte[] body = concat(new byte[] {0x02, (byte) r.length}, r, new byte[] {0x02, (byte) s.length}, s);
            return body.length < 128 ? concat(new byte[] {0x30, (byte) body.length}, body) : concat(new byte[] {0x30, (byte) 0x81, (byte) body.length}, body);
        }
    }

    /** The card-surface files' two-byte-tag TLVs. */
    static final class Tlv {
        /** {tag, value start, value length} of the TLV at `at`, or null. */
        static int[] head(byte[] data, int at) {
            if (at + 3 > data.length) return null;
            int tag = ((data[at] & 0xFF) << 8) | (data[at + 1] & 0xFF), length = data[at + 2] & 0xFF, start = at + 3;
            if (length == 0x81 && start + 1 <= data.length) {
                length = data[start] & 0xFF;
                start += 1;
            } else if (length == 0x82 && start + 2 <= data.length) {
                length = ((data[start] & 0xFF) << 8) | (data[start + 1] & 0xFF);
                start += 2;
            } else if (length > 0x7F) {
                return null;
            }
            return start + length <= data.length ? new int[] {tag, start, length} : null;
        }

        /** tag -> {value, whole TLV} of the items inside the `template` TLV opening `data`. */
        static Map<String, byte[][]> parse(byte[] data, String template) {
            Map<String, byte[][]> out = new HashMap<>();
            int[] outer = head(data, 0);
            if (outer == null || outer[0] != Integer.parseInt(template, 16)) return out;
            byte[] inner = Arrays.copyOfRange(data, outer[1], outer[1] + outer[2]);
            int at = 0;
            while (at < inner.length) {
                int[] item = head(inner, at);
                if (item == null) return new HashMap<>();
                out.put(String.format("%04X", item[0]), new byte[][] {Arrays.copyOfRange(inner, item[1], item[1] + item[2]), Arrays.copyOfRange(inner, at, item[1] + item[2])});
                at = item[1] + item[2];
            }
            return out;
        }

        static Map<String, byte[]> items(byte[] data, String template) {
            Map<String, byte[]> out = new HashMap<>();
            parse(data, template).forEach((tag, parts) -> out.put(tag, parts[0]));
            return out;
        }

        static Map<String, byte[]> wholeItems(byte[] data, String template) {
            Map<String, byte[]> out = new HashMap<>();
            parse(data, template).forEach((tag, parts) -> out.put(tag, parts[1]));
            return out;
        }
    }

    /** Just enough JSON: objects, arrays, strings (every escape), numbers, booleans, null. */
    static final class Json {
        private final String text;
        private int at;

        private Json(String text) {
            this.text = text;
        }

        @SuppressWarnings("unchecked")
        static Map<String, Object> object(String text) {
            Json parser = new Json(text);
            Object value = parser.value();
            parser.space();
            if (!(value instanceof Map) || parser.at != text.length()) throw new IllegalArgumentException("not one JSON object");
            return (Map<String, Object>) value;
        }

        private void space() {
            while (at < text.length() && Character.isWhitespace(text.charAt(at))) at++;
        }

        private Object value() {
            space();
            if (at >= text.length()) throw new IllegalArgumentException("end of JSON");
            char c = text.charAt(at);
            if (c == '{') {
                Map<String, Object> map = new LinkedHashMap<>();
                at++;
                space();
                if (text.charAt(at) == '}') {
                    at++;
                    return map;
                }
                while (true) {
                    space();
                    String key = string();
                    space();
                    expect(':');
                    map.put(key, value());
                    space();
                    if (text.charAt(at) == ',') {
                        at++;
                        continue;
                    }
                    expect('}');
                    return map;
                }
            }
            if (c == '[') {
                List<Object> list = new ArrayList<>();
                at++;
                space();
                if (text.charAt(at) == ']') {
                    at++;
                    return list;
                }
                while (true) {
                    list.add(value());
                    space();
                    if (text.charAt(at) == ',') {
                        at++;
                        continue;
                    }
                    expect(']');
                    return list;
                }
            }
            if (c == '"') return string();
            if (text.startsWith("true", at)) {
                at += 4;
                return Boolean.TRUE;
            }
            if (text.startsWith("false", at)) {
                at += 5;
                return Boolean.FALSE;
            }
            if (text.startsWith("null", at)) {
                at += 4;
                return null;
            }
            int start = at;
            while (at < text.length() && "+-0123456789.eE".indexOf(text.charAt(at)) >= 0) at++;
            if (start == at) throw new IllegalArgumentException("unexpected " + c);
            return Double.parseDouble(text.substring(start, at));
        }

        private void expect(char c) {
            if (at >= text.length() || text.charAt(at) != c) throw new IllegalArgumentException("expected " + c);
            at++;
        }

        private String string() {
            expect('"');
            StringBuilder out = new StringBuilder();
            while (true) {
                char c = text.charAt(at++);
                if (c == '"') return out.toString();
                if (c != '\\') {
                    out.append(c);
                    continue;
                }
                char e = text.charAt(at++);
                switch (e) {
                    case 'n': out.append('\n'); break;
                    case 't': out.append('\t'); break;
                    case 'r': out.append('\r'); break;
                    case 'b': out.append('\b'); break;
                    case 'f': out.append('\f'); break;
                    case 'u':
                        out.append((char) Integer.parseInt(text.substring(at, at + 4), 16));
                        at += 4;
                        break;
                    default: out.append(e);
                }
            }
        }

        /** A verdict as one line of JSON: strings, booleans, integers and objects of them. */
        static String write(Object value) {
            if (value instanceof String) {
                StringBuilder out = new StringBuilder("\"");
                for (char c : ((String) value).toCharArray()) {
                    if (c == '"' || c == '\\') out.append('\\').append(c);
                    else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
                    else out.append(c);
                }
                return out.append('"').toString();
            }
            if (value instanceof Map) {
                StringBuilder out = new StringBuilder("{");
                for (Map.Entry<?, ?> member : ((Map<?, ?>) value).entrySet()) {
                    if (out.length() > 1) out.append(',');
                    out.append(write(member.getKey())).append(':').append(write(member.getValue()));
                }
                return out.append('}').toString();
            }
            return String.valueOf(value);
        }
    }
}
