// An outside judge of mynatap's certificates: Java's own PKIX, configured as docs/certification.md
// ("Checking certificates with a standard validator") tells a vendor, over a folder written by
// `mynatap world export`. One line per device: NAME PKIX_VERDICT CAREFUL_VERDICT DETAIL, where
// PKIX_VERDICT is the CertPathValidator's alone and CAREFUL_VERDICT adds the profile checks the
// docs list beyond PKIX. Every generation's certificate is a trust anchor and every generation's
// CRL is in the CertStore. With `DIR CRL_STEM DEVICE` only that device is judged, against that CRL
// alone (a CRL fault of the export). JDK only.

import java.io.ByteArrayInputStream;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.*;
import java.util.*;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public final class PkixJudge {
    static final String POLICY = "1.2.392.200149.8.5.1.0.30";
    static final Set<String> UNDERSTOOD_CRITICAL = Set.of(
        "2.5.29.15", "2.5.29.19", "2.5.29.32", "2.5.29.37", "2.5.29.17", "2.5.29.30", "2.5.29.36", "2.5.29.54");

    public static void main(String[] args) throws Exception {
        if (args.length == 3 && args[1].equals("--crl-faults")) {
            // One JVM for every CRL fault of the export: DEVICE judged against each in turn.
            String index = Files.readString(Path.of(args[0]).resolve("world.json"));
            Matcher faults = Pattern.compile("\"name\": \"(crl-fault-[^\"]+)\"").matcher(index);
            while (faults.find()) {
                System.out.print(faults.group(1) + " ");
                judge(new String[] {args[0], faults.group(1), args[2]});
            }
            return;
        }
        judge(args);
    }

    static void judge(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        String index = Files.readString(dir.resolve("world.json"));
        Matcher time = Pattern.compile("\"unix_time\": (\\d+)").matcher(index);
        if (!time.find()) throw new IllegalArgumentException("world.json without unix_time");
        Date at = new Date(Long.parseLong(time.group(1)) * 1000L);
        CertificateFactory factory = CertificateFactory.getInstance("X.509");
        Set<TrustAnchor> anchors = new HashSet<>();
        for (String stem : list(index, "cas")) {
            X509Certificate ca = (X509Certificate) factory.generateCertificate(new ByteArrayInputStream(Files.readAllBytes(dir.resolve(stem + ".der"))));
            anchors.add(new TrustAnchor(ca, null));
        }
        List<X509CRL> crls = new ArrayList<>();
        for (String stem : args.length > 1 ? List.of(args[1]) : list(index, "crls")) {
            crls.add((X509CRL) factory.generateCRL(new ByteArrayInputStream(Files.readAllBytes(dir.resolve(stem + ".der")))));
        }
        Matcher names = Pattern.compile("\"name\": \"((card|phone)-[^\"]+)\"").matcher(index);
        while (names.find()) {
            String name = names.group(1);
            if (args.length > 2 && !args[2].equals(name)) continue;
            byte[] der = Files.readAllBytes(dir.resolve(name + ".der"));
            String pkix;
            String careful;
            String detail = "";
            X509Certificate leaf;
            try {
                leaf = (X509Certificate) factory.generateCertificate(new ByteArrayInputStream(der));
            } catch (CertificateException e) {
                System.out.println(name + " untrusted_certificate untrusted_certificate parse:" + oneLine(e.getMessage()));
                continue;
            }
            try {
                PKIXParameters parameters = new PKIXParameters(anchors);
                parameters.setDate(at);
                // The profile's CPS qualifier sits in a critical certificatePolicies extension.
                parameters.setPolicyQualifiersRejected(false);
                parameters.setInitialPolicies(Set.of(POLICY));
                parameters.setExplicitPolicyRequired(true);
                parameters.setRevocationEnabled(true);
                parameters.addCertStore(CertStore.getInstance("Collection", new CollectionCertStoreParameters(crls)));
                CertPathValidator.getInstance("PKIX").validate(factory.generateCertPath(List.of(leaf)), parameters);
                pkix = "valid";
            } catch (CertPathValidatorException e) {
                pkix = classify(e, crls, leaf);
                detail = oneLine(e.getMessage());
            }
            careful = pkix;
            if (pkix.equals("valid") || pkix.startsWith("certificate_")) {
                String violation = profileViolation(leaf, der);
                if (violation != null) {
                    careful = "untrusted_certificate";
                    detail = violation;
                }
            }
            if (careful.equals("valid")) {
                // PKIX does not check a trust anchor's keyUsage: a CA that may not sign CRLs
                // (no cRLSign) leaves the status unknown (RFC 5280 6.3.3).
                for (TrustAnchor anchor : anchors) {
                    X509Certificate ca = anchor.getTrustedCert();
                    boolean[] usage = ca.getKeyUsage();
                    if (ca.getSubjectX500Principal().equals(leaf.getIssuerX500Principal()) && usage != null && !usage[6]) {
                        careful = "service_unavailable";
                        detail = "CRL issuer without cRLSign";
                    }
                }
                for (X509CRL crl : crls) {
                    String violation = crlViolation(crl);
                    if (violation != null && crl.getIssuerX500Principal().equals(leaf.getIssuerX500Principal())) {
                        careful = "service_unavailable";
                        detail = violation;
                    }
                }
            }
            System.out.println(name + " " + pkix + " " + careful + " " + detail);
        }
    }

    /** The strings of a JSON array field of world.json (a flat list of names). */
    static List<String> list(String index, String field) {
        Matcher array = Pattern.compile("\"" + field + "\": \\[([^\\]]*)\\]").matcher(index);
        List<String> items = new ArrayList<>();
        if (!array.find()) return items;
        Matcher item = Pattern.compile("\"([^\"]+)\"").matcher(array.group(1));
        while (item.find()) items.add(item.group(1));
        return items;
    }

    static String classify(CertPathValidatorException e, List<X509CRL> crls, X509Certificate leaf) {
        CertPathValidatorException.Reason reason = e.getReason();
        if (reason == CertPathValidatorException.BasicReason.EXPIRED || reason == CertPathValidatorException.BasicReason.NOT_YET_VALID) {
            return "certificate_expired";
        }
        if (reason == CertPathValidatorException.BasicReason.REVOKED) {
            boolean hold = false;
            for (X509CRL crl : crls) {
                X509CRLEntry entry = crl.getRevokedCertificate(leaf);
                hold |= entry != null && entry.getRevocationReason() == CRLReason.CERTIFICATE_HOLD;
            }
            return hold ? "certificate_suspended" : "certificate_revoked";
        }
        if (reason == CertPathValidatorException.BasicReason.UNDETERMINED_REVOCATION_STATUS) {
            return "service_unavailable";
        }
        return "untrusted_certificate";
    }

    /** The checks docs/certification.md lists beyond PKIX, in the profile's order. */
    static String profileViolation(X509Certificate leaf, byte[] der) throws Exception {
        if (leaf.getVersion() != 3) return "version " + leaf.getVersion();
        BigInteger serial = leaf.getSerialNumber();
        if (serial.signum() <= 0) return "serial number not positive";
        if (serial.toByteArray().length > 20) return "serial number over 20 octets";
        if (generalizedTimeBefore2050(leaf.getTBSCertificate())) return "GeneralizedTime before 2050";
        Set<String> critical = leaf.getCriticalExtensionOIDs() == null ? Set.of() : leaf.getCriticalExtensionOIDs();
        for (String oid : critical) if (!UNDERSTOOD_CRITICAL.contains(oid)) return "unknown critical extension " + oid;
        boolean[] usage = leaf.getKeyUsage();
        if (usage == null || !usage[0]) return "keyUsage missing or without digitalSignature";
        if (leaf.getBasicConstraints() >= 0) return "a CA certificate";
        List<String> purposes = leaf.getExtendedKeyUsage();
        if (purposes != null && !purposes.contains("1.3.6.1.5.5.7.3.2")) return "extendedKeyUsage without clientAuth";
        return null;
    }

    static final Set<String> UNDERSTOOD_CRL = Set.of("2.5.29.20", "2.5.29.35", "2.5.29.18", "2.5.29.28", "2.5.29.27");
    static final Set<String> UNDERSTOOD_ENTRY = Set.of("2.5.29.21", "2.5.29.24", "2.5.29.29");

    /** The CRL checks docs/certification.md lists beyond PKIX (RFC 5280 5.2, 5.3). */
    static String crlViolation(X509CRL crl) {
        if (crl.getExtensionValue("2.5.29.20") == null) return "CRL without a CRL number";
        Set<String> critical = crl.getCriticalExtensionOIDs() == null ? Set.of() : crl.getCriticalExtensionOIDs();
        for (String oid : critical) if (!UNDERSTOOD_CRL.contains(oid)) return "unknown critical CRL extension " + oid;
        Set<? extends X509CRLEntry> entries = crl.getRevokedCertificates();
        if (entries != null) {
            for (X509CRLEntry entry : entries) {
                Set<String> entryCritical = entry.getCriticalExtensionOIDs() == null ? Set.of() : entry.getCriticalExtensionOIDs();
                for (String oid : entryCritical) if (!UNDERSTOOD_ENTRY.contains(oid)) return "unknown critical CRL entry extension " + oid;
            }
        }
        return null;
    }

    /** Walks the TBSCertificate's DER to its validity and reads the two time tags. */
    static boolean generalizedTimeBefore2050(byte[] tbs) {
        int[] outer = header(tbs, 0);
        int at = outer[0];
        int field = 0;
        while (at < tbs.length) {
            int tag = tbs[at] & 0xFF;
            int[] h = header(tbs, at);
            if (field == 0 && tag == 0xA0) { at = h[0] + h[1]; continue; }
            if (field == 3) {
                int inner = h[0];
                while (inner < h[0] + h[1]) {
                    int[] t = header(tbs, inner);
                    if ((tbs[inner] & 0xFF) == 0x18 && Integer.parseInt(new String(tbs, t[0], 4)) < 2050) return true;
                    inner = t[0] + t[1];
                }
                return false;
            }
            field++;
            at = h[0] + h[1];
        }
        return false;
    }

    /** {start of the value, its length} of the DER element at `at`. */
    static int[] header(byte[] der, int at) {
        int length = der[at + 1] & 0xFF;
        int start = at + 2;
        if ((length & 0x80) != 0) {
            int count = length & 0x7F;
            length = 0;
            for (int i = 0; i < count; i++) length = (length << 8) | (der[start + i] & 0xFF);
            start += count;
        }
        return new int[] {start, length};
    }

    static String oneLine(String text) {
        return text == null ? "" : text.replace('\n', ' ').replace(' ', '_');
    }
}
