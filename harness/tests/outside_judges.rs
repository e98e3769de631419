//! Outside judges of mynatap's certificates: every world of the suite is exported with `mynatap
//! world export` and each device's certificate judged by `openssl verify` and by Java's PKIX
//! (javac and java of the JDK), configured as docs/certification.md tells a vendor. They must
//! agree with what the contract makes of every certificate; where a standard engine cannot (the
//! profile checks RFC 5280 leaves to the application), the test names the check and requires the
//! careful configuration of the docs to agree.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Profile faults a plain `openssl verify -x509_strict -purpose sslclient` (OpenSSL 3.0) accepts:
/// it checks keyUsage and extendedKeyUsage only where present, takes a CA certificate as a client
/// certificate, and checks neither the serial's sign and size nor the time encoding. The docs
/// list these as the checks a reader adds to its validator.
const OPENSSL_LEAVES_TO_THE_READER: [&str; 6] =
    ["no_key_usage", "ca_leaf", "serial_zero", "serial_negative", "serial_too_long", "generalized_time_before_2050"];
/// The same for Java's PKIX validator alone (keyUsage and extendedKeyUsage of the target are the
/// application's to check, through the certificate's getters).
const PKIX_LEAVES_TO_THE_READER: [&str; 8] = [
    "no_key_usage",
    "key_usage_without_digital_signature",
    "eku_without_client_auth",
    "ca_leaf",
    "serial_zero",
    "serial_negative",
    "serial_too_long",
    "generalized_time_before_2050",
];

/// CRL faults `openssl verify -crl_check` (OpenSSL 3.0) takes: it does not require a cRLNumber.
const OPENSSL_LEAVES_CRL_CHECKS: [&str; 1] = ["crl_without_number"];
/// CRL faults Java's PKIX takes: a missing cRLNumber, an unknown critical extension on the entry
/// of another certificate (RFC 5280 5.3: such a CRL MUST NOT be used for any certificate), and a
/// CRL of a trust anchor whose keyUsage lacks cRLSign (PKIX does not read an anchor's keyUsage).
const PKIX_LEAVES_CRL_CHECKS: [&str; 3] = ["crl_unknown_critical_entry_extension", "crl_without_number", "issuer_without_crl_sign"];

#[derive(Debug)]
struct Device {
    name: String,
    fault: Option<String>,
    generation: u64,
    expected: String,
}

fn crl_faults(dir: &Path) -> Vec<(String, String)> {
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("world.json")).unwrap()).unwrap();
    index["crl_faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|fault| (fault["name"].as_str().unwrap().to_owned(), fault["fault"].as_str().unwrap().to_owned()))
        .collect()
}

fn crl_sign(dir: &Path) -> bool {
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("world.json")).unwrap()).unwrap();
    index["crl_sign"].as_bool().unwrap()
}

fn generations(dir: &Path) -> u64 {
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("world.json")).unwrap()).unwrap();
    index["cas"].as_array().unwrap().len() as u64
}

fn devices(dir: &Path) -> (i64, Vec<Device>) {
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("world.json")).unwrap()).unwrap();
    let devices = index["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|device| Device {
            name: device["name"].as_str().unwrap().to_owned(),
            fault: device["certificate_fault"].as_str().map(str::to_owned),
            generation: device["generation"].as_u64().unwrap(),
            expected: device["expected"].as_str().unwrap().to_owned(),
        })
        .collect();
    (index["unix_time"].as_i64().unwrap(), devices)
}

fn openssl_verdict(dir: &Path, name: &str, unix_time: i64, crl: Option<&str>) -> (String, String) {
    let mut command = Command::new("openssl");
    command.args(["verify", "-x509_strict", "-purpose", "sslclient", "-policy", "1.2.392.200149.8.5.1.0.30", "-explicit_policy"]);
    if let Some(crl) = crl {
        command.arg("-crl_check").arg("-CRLfile").arg(dir.join(format!("{crl}.pem")));
    }
    let output = command
        .arg("-CAfile")
        .arg(dir.join("ca.pem"))
        .args(["-attime", &unix_time.to_string()])
        .arg(dir.join(format!("{name}.pem")))
        .output()
        .expect("openssl is installed by scripts/test.sh");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let verdict = if output.status.success() {
        "valid"
    } else if text.contains("certificate has expired") || text.contains("not yet valid") {
        "certificate_expired"
    } else if text.contains("certificate revoked") {
        "revoked"
    } else if text.lines().any(|line| line.contains("error") && line.contains("CRL")) {
        // The CRL could not be used (signature, issuer's keyUsage, critical extension): the
        // status is unknown.
        "service_unavailable"
    } else {
        "untrusted_certificate"
    };
    (verdict.to_owned(), text.lines().find(|line| line.contains("error")).unwrap_or_default().to_owned())
}

fn same(verdict: &str, expected: &str) -> bool {
    verdict == expected || (verdict == "revoked" && matches!(expected, "certificate_revoked" | "certificate_suspended"))
}

#[test]
fn openssl_and_java_pkix_judge_every_certificate_of_the_suite_as_the_contract_does() {
    let out = std::env::temp_dir().join(format!("mynatap-outside-judges-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let export = Command::new(env!("CARGO_BIN_EXE_mynatap")).args(["world", "export", "scenarios", "--out"]).arg(&out).current_dir(root()).output().unwrap();
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    let classes = out.join("judge-classes");
    let javac = Command::new("javac")
        .arg("-d")
        .arg(&classes)
        .arg(root().join("harness/tests/judges/PkixJudge.java"))
        .output()
        .expect("javac is installed by scripts/test.sh");
    assert!(javac.status.success(), "{}", String::from_utf8_lossy(&javac.stderr));

    let mut judged = 0;
    let mut disagreements = Vec::new();
    let mut left_to_the_reader: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut crls_judged = 0;
    for world in std::fs::read_dir(&out).unwrap().map(|entry| entry.unwrap().path()).filter(|path| path.join("world.json").is_file()) {
        let (unix_time, devices) = devices(&world);
        let java = Command::new("java").arg("-cp").arg(&classes).arg("PkixJudge").arg(&world).output().unwrap();
        assert!(java.status.success(), "{}", String::from_utf8_lossy(&java.stderr));
        let java: BTreeMap<String, (String, String, String)> = String::from_utf8_lossy(&java.stdout)
            .lines()
            .map(|line| {
                let mut parts = line.splitn(4, ' ');
                let name = parts.next().unwrap().to_owned();
                (name, (parts.next().unwrap().to_owned(), parts.next().unwrap().to_owned(), parts.next().unwrap_or_default().to_owned()))
            })
            .collect();
        // Each CRL no relying party may use, in place of the newest authority's CRL, for a
        // certificate of that authority that is valid: every judge must fail closed.
        let newest = generations(&world);
        if let Some(valid) = devices.iter().find(|device| device.expected == "valid" && device.generation == newest) {
            let output = Command::new("java").arg("-cp").arg(&classes).arg("PkixJudge").arg(&world).arg("--crl-faults").arg(&valid.name).output().unwrap();
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            let java: BTreeMap<String, (String, String)> = String::from_utf8_lossy(&output.stdout)
                .lines()
                .map(|line| {
                    let parts: Vec<&str> = line.splitn(5, ' ').collect();
                    (parts[0].to_owned(), (parts.get(2).copied().unwrap_or_default().to_owned(), parts.get(3).copied().unwrap_or_default().to_owned()))
                })
                .collect();
            for (crl, fault) in crl_faults(&world) {
                crls_judged += 1;
                let at = format!("{}/{crl} on {}", world.file_name().unwrap().to_string_lossy(), valid.name);
                let (openssl, why) = openssl_verdict(&world, &valid.name, unix_time, Some(&crl));
                let (pkix, careful) = java.get(&crl).cloned().unwrap_or_default();
                if careful != "service_unavailable" {
                    disagreements.push(format!("{at}: Java (careful) says {careful}, the contract service_unavailable"));
                }
                for (engine, verdict, allowed, why) in
                    [("openssl", openssl.as_str(), &OPENSSL_LEAVES_CRL_CHECKS[..], why.as_str()), ("java-pkix", pkix.as_str(), &PKIX_LEAVES_CRL_CHECKS[..], "")]
                {
                    match verdict {
                        "valid" if allowed.contains(&fault.as_str()) => {
                            left_to_the_reader.entry(if engine == "openssl" { "openssl-crl" } else { "java-pkix-crl" }).or_default().push(fault.clone())
                        }
                        "valid" => disagreements.push(format!("{at}: {engine} takes the CRL ({why}), the contract fails closed")),
                        _ => {}
                    }
                }
            }
        }
        for device in devices {
            judged += 1;
            let at = format!("{}/{}", world.file_name().unwrap().to_string_lossy(), device.name);
            let (mut openssl, why) = openssl_verdict(&world, &device.name, unix_time, Some("crl"));
            // RFC 5280 4.1.2.5: the validity period includes notAfter; OpenSSL 3.0 takes it as
            // exclusive (X509_cmp_time counts an equal time as past). A world standing on the
            // certificate's last second is valid to the contract and to Java: one second earlier
            // OpenSSL must agree (without the CRL, whose thisUpdate is the world's very second).
            if openssl == "certificate_expired" && device.expected == "valid" && openssl_verdict(&world, &device.name, unix_time - 1, None).0 == "valid" {
                openssl = "valid".into();
            }
            // OpenSSL reports the CRL's failure before the certificate's expiry; the contract
            // (and Java) take expiry first. Without the CRL OpenSSL must say expired.
            if openssl == "service_unavailable"
                && device.expected == "certificate_expired"
                && openssl_verdict(&world, &device.name, unix_time, None).0 == "certificate_expired"
            {
                openssl = "certificate_expired".into();
            }
            let (pkix, careful, detail) = java.get(&device.name).cloned().unwrap_or_default();
            // Java's PKIX as the docs configure it, with the checks they add: always the contract's.
            if careful != device.expected {
                disagreements.push(format!("{at}: Java (careful) says {careful} ({detail}), the contract {}", device.expected));
            }
            for (engine, verdict, allowed, why) in
                [("openssl", &openssl, &OPENSSL_LEAVES_TO_THE_READER[..], &why), ("java-pkix", &pkix, &PKIX_LEAVES_TO_THE_READER[..], &detail)]
            {
                if same(verdict, &device.expected) {
                    continue;
                }
                match device.fault.as_deref() {
                    Some(fault) if verdict == "valid" && allowed.contains(&fault) => left_to_the_reader.entry(engine).or_default().push(fault.to_owned()),
                    // Java's PKIX does not check a trust anchor's keyUsage for cRLSign.
                    None if engine == "java-pkix" && verdict == "valid" && device.expected == "service_unavailable" && !crl_sign(&world) => {
                        left_to_the_reader.entry("java-pkix-crl").or_default().push("issuer_without_crl_sign".to_owned());
                    }
                    _ => disagreements.push(format!("{at}: {engine} says {verdict} ({why}), the contract {}", device.expected)),
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    assert!(judged > 100, "only {judged} certificates judged");
    assert!(crls_judged > 40, "only {crls_judged} faulty CRLs judged");
    assert!(disagreements.is_empty(), "outside judges disagree:\n{}", disagreements.join("\n"));
    // Each engine leaves exactly the documented checks to the reader (so the docs stay true).
    for (engine, expected) in [
        ("openssl", &OPENSSL_LEAVES_TO_THE_READER[..]),
        ("java-pkix", &PKIX_LEAVES_TO_THE_READER[..]),
        ("openssl-crl", &OPENSSL_LEAVES_CRL_CHECKS[..]),
        ("java-pkix-crl", &PKIX_LEAVES_CRL_CHECKS[..]),
    ] {
        let mut seen = left_to_the_reader.get(engine).cloned().unwrap_or_default();
        seen.sort();
        seen.dedup();
        let mut documented: Vec<String> = expected.iter().map(|fault| (*fault).to_owned()).collect();
        documented.sort();
        assert_eq!(seen, documented, "{engine}: the profile checks it leaves to the reader");
    }
}
