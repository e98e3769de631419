//! What the CA writes into each certificate: the authority's and a leaf's X.509 builder profiles,
//! the JPKI user-authentication leaf's extensions (as the test card's), and the subject's id.

use super::*;

/// The opaque id a JPKI certificate names its subject by (no name of the person, as on the test
/// card): digits and capitals derived from the holder, the device and the serial, so one seed
/// gives the same id and no two certificates of a world share one.
pub(super) fn subject_id(request: &LeafRequest<'_>) -> String {
    const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut hasher = Sha256::new();
    for part in [b"mynatap-subject-id-v1".as_slice(), request.holder.as_bytes(), request.device.as_bytes()] {
        hasher.update(part);
        hasher.update([0]);
    }
    hasher.update(request.serial.to_be_bytes());
    let digest = hasher.finalize();
    digest.iter().take(SUBJECT_ID_LEN).filter_map(|&byte| ALPHABET.get(usize::from(byte) % ALPHABET.len()).copied().map(char::from)).collect()
}

/// The root's profile, as the JPKI test CA's certificate (docs/protocol.md): keyUsage keyCertSign
/// and cRLSign (critical), its alternative name, basicConstraints CA (critical), a CRL
/// distribution point naming itself, subjectKeyIdentifier; no authorityKeyIdentifier.
pub(super) struct AuthorityProfile {
    pub(super) subject: Name,
    /// keyUsage names cRLSign (the CA may sign CRLs).
    pub(super) crl_sign: bool,
}

impl BuilderProfile for AuthorityProfile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.subject.clone()
    }
    fn get_subject(&self) -> Name {
        self.subject.clone()
    }
    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        use x509_cert::ext::pkix::crl::dp::DistributionPoint;
        use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
        use x509_cert::ext::pkix::{BasicConstraints, CrlDistributionPoints, SubjectAltName};
        let subject = tbs.subject();
        let mut extensions = Vec::new();
        let usage = if self.crl_sign { KeyUsages::KeyCertSign | KeyUsages::CRLSign } else { KeyUsages::KeyCertSign.into() };
        extensions.push(KeyUsage(usage).to_extension(subject, &extensions)?);
        let alt_name = GeneralName::DirectoryName(Name::from_str(AUTHORITY_ALT_NAME)?);
        extensions.push(SubjectAltName(vec![alt_name]).to_extension(subject, &extensions)?);
        extensions.push(BasicConstraints { ca: true, path_len_constraint: None }.to_extension(subject, &extensions)?);
        let own_point = DistributionPoint {
            distribution_point: Some(DistributionPointName::FullName(vec![GeneralName::DirectoryName(self.subject.clone())])),
            reasons: None,
            crl_issuer: None,
        };
        extensions.push(CrlDistributionPoints(vec![own_point]).to_extension(subject, &extensions)?);
        extensions.push(SubjectKeyIdentifier::try_from(spk)?.to_extension(subject, &extensions)?);
        Ok(extensions)
    }
}

/// End-entity profile: a signing key for user authentication, linked to its CA by key id.
pub(super) struct LeafProfile {
    pub(super) issuer: Name,
    pub(super) issuer_serial: u64,
    pub(super) subject: Name,
    pub(super) fault: Option<CertificateFault>,
}

impl BuilderProfile for LeafProfile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }
    fn get_subject(&self) -> Name {
        self.subject.clone()
    }
    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        jpki_leaf_extensions((&self.issuer, self.issuer_serial), spk, issuer_spk, tbs, self.fault)
    }
}

const ID_QT_CPS: der::oid::ObjectIdentifier = der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.2.1");
const ID_AD_OCSP: der::oid::ObjectIdentifier = der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");

/// The extensions of a user-authentication certificate, set and criticality as the JPKI test card's
/// (docs/protocol.md): keyUsage (critical), extendedKeyUsage clientAuth, certificatePolicies
/// (critical, the JPKI test policy with a CPS URI), issuerAltName and cRLDistributionPoints as
/// directory names, authorityInfoAccess (an OCSP URI nobody answers: `.invalid`),
/// authorityKeyIdentifier with the issuer's name and serial, subjectKeyIdentifier. A validator
/// that refuses unknown critical extensions refuses this as it refuses every real card.
/// `fault` changes the set as [`CertificateFault`] says (the faults of other fields are written
/// after signing, by [`profile::rewrite_fields`]).
fn jpki_leaf_extensions(
    (issuer, issuer_serial): (&Name, u64),
    spk: SubjectPublicKeyInfoRef<'_>,
    issuer_spk: SubjectPublicKeyInfoRef<'_>,
    tbs: &TbsCertificate,
    fault: Option<CertificateFault>,
) -> x509_cert::builder::Result<Vec<Extension>> {
    use der::asn1::{Any, Ia5String};
    use x509_cert::ext::pkix::certpolicy::{PolicyInformation, PolicyQualifierInfo};
    use x509_cert::ext::pkix::crl::dp::DistributionPoint;
    use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
    use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax, CertificatePolicies, CrlDistributionPoints, ExtendedKeyUsage, IssuerAltName};
    let subject = tbs.subject();
    let directory = |text: &str| -> x509_cert::builder::Result<GeneralName> { Ok(GeneralName::DirectoryName(Name::from_str(text)?)) };
    use CertificateFault as Fault;
    let mut extensions = Vec::new();
    let key_usage = match fault {
        Some(Fault::NoKeyUsage) => None,
        Some(Fault::KeyUsageWithoutDigitalSignature) => Some(KeyUsages::KeyEncipherment.into()),
        Some(Fault::SignatureCertificate) => Some(KeyUsages::DigitalSignature | KeyUsages::NonRepudiation),
        _ => Some(KeyUsages::DigitalSignature.into()),
    };
    if let Some(key_usage) = key_usage {
        extensions.push(KeyUsage(key_usage).to_extension(subject, &extensions)?);
    }
    match fault {
        Some(Fault::SignatureCertificate) => {}
        Some(Fault::EkuWithoutClientAuth) => extensions.push(ExtendedKeyUsage(vec![profile::ID_KP_EMAIL_PROTECTION]).to_extension(subject, &extensions)?),
        _ => extensions.push(ExtendedKeyUsage(vec![profile::ID_KP_CLIENT_AUTH]).to_extension(subject, &extensions)?),
    }
    let policy = match fault {
        Some(Fault::NoPolicy) => None,
        Some(Fault::OtherPolicy | Fault::SignatureCertificate) => Some(profile::SIGNATURE_POLICY),
        _ => Some(JPKI_TEST_POLICY),
    };
    if let Some(policy_identifier) = policy {
        let cps =
            PolicyQualifierInfo { policy_qualifier_id: ID_QT_CPS, qualifier: Some(Any::encode_from(&Ia5String::new("http://cps.mynatap.invalid/cps.html")?)?) };
        let mut policies =
            CertificatePolicies(vec![PolicyInformation { policy_identifier, policy_qualifiers: Some(vec![cps]) }]).to_extension(subject, &extensions)?;
        policies.critical = true;
        extensions.push(policies);
    }
    if fault == Some(Fault::CaLeaf) {
        use x509_cert::ext::pkix::BasicConstraints;
        extensions.push(BasicConstraints { ca: true, path_len_constraint: None }.to_extension(subject, &extensions)?);
    }
    if fault == Some(Fault::UnknownCriticalExtension) {
        let value = der::asn1::OctetString::new(der::asn1::Null.to_der()?)?;
        extensions.push(Extension { extn_id: profile::UNKNOWN_EXTENSION, critical: true, extn_value: value });
    }
    extensions.push(IssuerAltName(vec![directory(AUTHORITY_ALT_NAME)?]).to_extension(subject, &extensions)?);
    let crl_point = DistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(vec![directory(
            "CN=Chiyoda-ku CRLDP,OU=Tokyo-to,OU=CRL Distribution Points,O=mynatap (not a real authority),C=JP",
        )?])),
        reasons: None,
        crl_issuer: None,
    };
    extensions.push(CrlDistributionPoints(vec![crl_point]).to_extension(subject, &extensions)?);
    let ocsp = AccessDescription {
        access_method: ID_AD_OCSP,
        access_location: GeneralName::UniformResourceIdentifier(Ia5String::new("http://ocsp.mynatap.invalid")?),
    };
    extensions.push(AuthorityInfoAccessSyntax(vec![ocsp]).to_extension(subject, &extensions)?);
    let issuer_ski = SubjectKeyIdentifier::try_from(issuer_spk)?;
    let authority = AuthorityKeyIdentifier {
        key_identifier: Some(issuer_ski.0),
        authority_cert_issuer: Some(vec![GeneralName::DirectoryName(issuer.clone())]),
        authority_cert_serial_number: Some(serial_number(issuer_serial).map_err(|_| der::Error::from(der::ErrorKind::Value { tag: der::Tag::Integer }))?),
    };
    extensions.push(authority.to_extension(subject, &extensions)?);
    extensions.push(SubjectKeyIdentifier::try_from(spk)?.to_extension(subject, &extensions)?);
    Ok(extensions)
}
