//! Cards and phones issued, renewed, suspended, resumed, revoked and removed (SETUP-1, SETUP-2, Q13-Q20).

use super::*;

impl Registry {
    /// Issues the person's physical card certificates; returns the card's credential.
    pub fn add_person(&mut self, spec: &PersonSpec, now: OffsetDateTime) -> Result<CardCredential, RegistryError> {
        if self.people.contains_key(&spec.id) {
            return Err(RegistryError::DuplicatePerson(spec.id.clone()));
        }
        let card_expires = clock::end_of_day(spec.card_cert_expires);
        let record = InsuranceRecord {
            validity: spec.insurance_status,
            copay_percent: spec.copay_percent,
            name: spec.insured_name.clone(),
            kana: spec.insured_kana.clone(),
            ..InsuranceRecord::valid(&spec.id, &spec.insurer, spec.insurance_valid_from, spec.insurance_valid_until)
        };
        let serial = self.new_serial();
        self.people.insert(
            spec.id.clone(),
            Person {
                birth_date: spec.birth_date,
                card_serial: serial,
                card_expires,
                card_revoked: false,
                card_generation: 0,
                card_certificate_fault: spec.card_certificate_fault,
                card_issuer: self.generation_index(spec.card_ca_generation)?,
                card_pin: spec.card_pin.clone(),
                card_key: spec.card_key.unwrap_or(KeyAlgorithm::Rsa2048),
                card_info_pin: spec.card_info_pin.clone(),
                printed: Printed {
                    security_code: spec.security_code.clone(),
                    expires: clock::yyyymmdd(spec.card_expires.unwrap_or(spec.card_cert_expires)),
                    forgery: spec.card_forgery,
                },
                insurance_registered: spec.insurance_registered,
                record,
                insurance_arrives: spec.insurance_arrives,
                phone: None,
            },
        );
        self.issue_card(&spec.id, serial, now)
    }

    pub(super) fn issue_card(&mut self, person_id: &str, serial: u64, now: OffsetDateTime) -> Result<CardCredential, RegistryError> {
        let sign_serial = self.new_serial();
        let card_key = self.people.get(person_id).ok_or_else(|| RegistryError::UnknownPerson(person_id.into()))?.card_key;
        let rsa_slots = self.rsa_slots(card_key);
        let person = self.people.get(person_id).ok_or_else(|| RegistryError::UnknownPerson(person_id.into()))?;
        let key_label = format!("card:{person_id}:{}", person.card_generation);
        let request = IssueRequest {
            key_label: &key_label,
            key: card_key,
            rsa_slots,
            holder: person_id,
            device: DeviceKind::Card,
            auth_serial: serial,
            sign_serial,
            not_before: issue_start(now, person.card_expires),
            not_after: person.card_expires,
            auth_pin: &person.card_pin,
            sign_password: "ABC123",
            card_info_pin: person.card_info_pin.as_deref().unwrap_or(&person.card_pin),
            holder_info: holder_info(person_id, person.birth_date),
            printed: Some(person.printed.clone()),
            auth_fault: person.card_certificate_fault,
        };
        let issuer = person.card_issuer;
        let ca = self.cas.get(issuer).ok_or_else(|| RegistryError::Pki(format!("no authority of generation {}", issuer + 1)))?;
        let credential = credential::issue(ca, ca.certificate_der(), self.seed, &request)?;
        let newest = self.cas.len() - 1;
        if let Some(person) = self.people.get_mut(person_id) {
            // The first certificate only: renewals are the newest authority's, of the profile.
            person.card_certificate_fault = None;
            person.card_issuer = newest;
        }
        self.issuer_of.insert(serial, issuer);
        self.issuer_of.insert(sign_serial, issuer);
        self.holders.insert(serial, person_id.to_owned());
        self.holders.insert(sign_serial, person_id.to_owned());
        Ok(credential)
    }

    /// SETUP-2 and Q17/Q18/Q19: adds the person's card to a phone and returns the phone's new
    /// credential. Any other phone of that person is revoked (superseded). `card_info_pin` is
    /// what the person typed on an iPhone (SETUP-2; `None`: the right one).
    #[allow(clippy::too_many_arguments)]
    pub fn add_phone(
        &mut self,
        person_id: &str,
        phone_id: &str,
        os: DeviceKind,
        key: KeyAlgorithm,
        phone_pin: &str,
        card_info_pin: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<CardCredential, RegistryError> {
        self.add_phone_with(person_id, phone_id, (os, key), phone_pin, card_info_pin, now, Issuance::default())
    }

    /// [`Registry::add_phone`], the phone's certificate issued as `issuance` says (contract 1.3:
    /// a profile fault, an older generation of the authority).
    #[allow(clippy::too_many_arguments)]
    pub fn add_phone_with(
        &mut self,
        person_id: &str,
        phone_id: &str,
        (os, key): (DeviceKind, KeyAlgorithm),
        phone_pin: &str,
        card_info_pin: Option<&str>,
        now: OffsetDateTime,
        issuance: Issuance,
    ) -> Result<CardCredential, RegistryError> {
        let person = self.people.get(person_id).ok_or_else(|| RegistryError::UnknownPerson(person_id.into()))?;
        if let Some(phone) = self.phones.get(phone_id) {
            if let Some(holder) = &phone.holder
                && holder != person_id
            {
                return Err(RegistryError::PhoneHoldsAnotherCard { phone: phone_id.into(), holder: holder.clone() });
            }
            if phone.os != os {
                return Err(RegistryError::PhoneOsMismatch { phone: phone_id.into(), os: phone.os });
            }
            if self.revocation_of(phone.serial) == Some(RevocationReason::CertificateHold) {
                return Err(RegistryError::PhoneSuspended(phone_id.into()));
            }
        }
        if os == DeviceKind::Iphone
            && let Some(typed) = card_info_pin
            && (!is_four_digits(typed) || person.card_info_pin.as_deref().is_some_and(|pin| pin != typed))
        {
            return Err(RegistryError::WrongCardInfoPin);
        }
        let today = clock::local_date(now);
        if clock::first_day_of_age(person.birth_date, 15) > today {
            return Err(RegistryError::Under15 { person: person_id.into(), birth_date: person.birth_date, today });
        }
        if person.card_revoked || !clock::valid_through(person.card_expires, now) {
            return Err(RegistryError::CardNotValid(person_id.into()));
        }
        let (card_expires, birth_date, previous) = (person.card_expires, person.birth_date, person.phone.clone());
        // Q19: the card lives on one phone at a time; the old phone keeps the dead card.
        if let Some(previous) = previous.filter(|previous| previous != phone_id)
            && let Some(serial) = self.phones.get(&previous).map(|old| old.serial)
        {
            self.revoke(serial, RevocationReason::Superseded, now);
        }
        if let Some(existing) = self.phones.get(phone_id) {
            let serial = existing.serial;
            self.revoke(serial, RevocationReason::Superseded, now);
        }
        let generation = self.phones.get(phone_id).map_or(0, |phone| phone.generation + 1);
        let (credential, serial) = self.issue_phone_credential(
            (false, issuance),
            person_id,
            &format!("phone:{phone_id}:{generation}"),
            (os, key),
            phone_pin,
            (card_expires, birth_date),
            now,
        )?;
        self.phones.insert(phone_id.to_owned(), Phone { os, holder: Some(person_id.to_owned()), serial, generation });
        if let Some(person) = self.people.get_mut(person_id) {
            person.phone = Some(phone_id.to_owned());
        }
        self.reissue_crl(now)?;
        Ok(credential)
    }

    /// A credential from a CA with the trusted CA's name but another key (`forged: true`). The
    /// registry does not know it: it revokes nothing and is never eligible.
    pub fn issue_forged(
        &mut self,
        person_id: &str,
        phone_id: &str,
        (os, key): (DeviceKind, KeyAlgorithm),
        phone_pin: &str,
        now: OffsetDateTime,
        certificate: Option<CertificateFault>,
    ) -> Result<CardCredential, RegistryError> {
        let person = self.people.get(person_id).ok_or_else(|| RegistryError::UnknownPerson(person_id.into()))?;
        let (card_expires, birth_date) = (person.card_expires, person.birth_date);
        if self.forged_ca.is_none() {
            self.forged_ca = Some(CertificateAuthority::forged(self.seed, self.ca().algorithm())?);
        }
        let (credential, _) = self.issue_phone_credential(
            (true, Issuance { fault: certificate, generation: None }),
            person_id,
            &format!("forged:{phone_id}"),
            (os, key),
            phone_pin,
            (card_expires, birth_date),
            now,
        )?;
        Ok(credential)
    }

    /// Issues a phone's certificates, valid until the card's expiry (Q18), from the trusted CA
    /// (registered for eligibility) or from the forger. Returns the credential and its auth serial.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn issue_phone_credential(
        &mut self,
        (forged, issuance): (bool, Issuance),
        person_id: &str,
        key_label: &str,
        (os, key): (DeviceKind, KeyAlgorithm),
        phone_pin: &str,
        (card_expires, birth_date): (OffsetDateTime, Date),
        now: OffsetDateTime,
    ) -> Result<(CardCredential, u64), RegistryError> {
        let serial = self.new_serial();
        let sign_serial = self.new_serial();
        let rsa_slots = self.rsa_slots(key);
        let request = IssueRequest {
            key_label,
            key,
            rsa_slots,
            holder: person_id,
            device: os,
            auth_serial: serial,
            sign_serial,
            not_before: issue_start(now, card_expires),
            not_after: card_expires,
            auth_pin: phone_pin,
            sign_password: "ABC123",
            card_info_pin: phone_pin,
            holder_info: holder_info(person_id, birth_date),
            printed: None,
            auth_fault: issuance.fault,
        };
        let issuer = self.generation_index(issuance.generation)?;
        let ca = match (forged, self.cas.get(issuer)) {
            (true, _) => self.forged_ca.as_ref().ok_or_else(|| RegistryError::Pki("forged CA missing".into()))?,
            (false, Some(ca)) => ca,
            (false, None) => return Err(RegistryError::Pki(format!("no authority of generation {}", issuer + 1))),
        };
        let credential = credential::issue(ca, ca.certificate_der(), self.seed, &request)?;
        if !forged {
            self.issuer_of.insert(serial, issuer);
            self.issuer_of.insert(sign_serial, issuer);
            self.holders.insert(serial, person_id.to_owned());
            self.holders.insert(sign_serial, person_id.to_owned());
        }
        Ok((credential, serial))
    }

    /// The index of generation `number` (1 is the oldest; `None`: the newest).
    pub(super) fn generation_index(&self, number: Option<usize>) -> Result<usize, RegistryError> {
        match number {
            None => Ok(self.cas.len() - 1),
            Some(number) if (1..=self.cas.len()).contains(&number) => Ok(number - 1),
            Some(number) => Err(RegistryError::Pki(format!("no authority of generation {number}: the world trusts {}", self.cas.len()))),
        }
    }

    pub(super) fn active_phone(&self, phone_id: &str) -> Result<(&Phone, String), RegistryError> {
        let phone = self.phones.get(phone_id).ok_or_else(|| RegistryError::UnknownPhone(phone_id.into()))?;
        let holder = phone.holder.clone().ok_or_else(|| RegistryError::NoCardOnPhone(phone_id.into()))?;
        Ok((phone, holder))
    }

    /// Q19: the person deletes the card from the phone; its certificate is revoked. A phone
    /// whose card was superseded or invalidated can be cleared too (its revocation stands).
    pub fn remove_phone(&mut self, phone_id: &str, now: OffsetDateTime) -> Result<(), RegistryError> {
        let (phone, holder) = self.active_phone(phone_id)?;
        let serial = phone.serial;
        // A suspended phone that is deleted is revoked for good.
        if self.revocation_of(serial) == Some(RevocationReason::CertificateHold) {
            self.revoked.remove(&serial);
        }
        self.revoke(serial, RevocationReason::CessationOfOperation, now);
        if let Some(phone) = self.phones.get_mut(phone_id) {
            phone.holder = None;
        }
        if let Some(person) = self.people.get_mut(&holder)
            && person.phone.as_deref() == Some(phone_id)
        {
            person.phone = None;
        }
        self.reissue_crl(now)
    }

    /// Q20: the hotline suspends the phone at once (certificateHold).
    pub fn report_lost(&mut self, phone_id: &str, now: OffsetDateTime) -> Result<(), RegistryError> {
        let (phone, _) = self.active_phone(phone_id)?;
        let serial = phone.serial;
        match self.revoked.get(&serial).map(|entry| entry.reason) {
            Some(RevocationReason::CertificateHold) => return Err(RegistryError::AlreadySuspended(phone_id.into())),
            Some(_) => return Err(RegistryError::PhoneRevoked(phone_id.into())),
            None => {}
        }
        self.revoke(serial, RevocationReason::CertificateHold, now);
        self.reissue_crl(now)
    }

    /// Q20: lifts a suspension. The full CRL simply drops the entry (RFC 5280 keeps the
    /// removeFromCRL reason for delta CRLs); the log records it as removeFromCRL.
    pub fn resume(&mut self, phone_id: &str, now: OffsetDateTime) -> Result<(), RegistryError> {
        let phone = self.phones.get(phone_id).ok_or_else(|| RegistryError::UnknownPhone(phone_id.into()))?;
        let serial = phone.serial;
        match self.revoked.get(&serial).map(|entry| entry.reason) {
            Some(RevocationReason::CertificateHold) => {}
            _ => return Err(RegistryError::NotSuspended(phone_id.into())),
        }
        self.revoked.remove(&serial);
        self.crl_log.push((serial, now, "removeFromCRL"));
        self.reissue_crl(now)
    }

    /// Q18: the card (or its certificate) is revoked; every phone of the person goes with it.
    pub fn revoke_card(&mut self, person_id: &str, now: OffsetDateTime) -> Result<(), RegistryError> {
        let person = self.people.get_mut(person_id).ok_or_else(|| RegistryError::UnknownPerson(person_id.into()))?;
        person.card_revoked = true;
        let card_serial = person.card_serial;
        self.revoke(card_serial, RevocationReason::KeyCompromise, now);
        self.invalidate_phones(person_id, RevocationReason::CessationOfOperation, now);
        self.reissue_crl(now)
    }

    /// Q18: new card certificates at the municipal office; phones must add the card again.
    /// Returns the physical card's new credential.
    pub fn renew_card(&mut self, person_id: &str, cert_expires: Date, now: OffsetDateTime) -> Result<CardCredential, RegistryError> {
        if cert_expires <= clock::local_date(now) {
            return Err(RegistryError::ExpiryInPast(cert_expires));
        }
        let person = self.people.get_mut(person_id).ok_or_else(|| RegistryError::UnknownPerson(person_id.into()))?;
        let old_serial = person.card_serial;
        person.card_revoked = false;
        person.card_expires = clock::end_of_day(cert_expires);
        person.card_generation += 1;
        self.revoke(old_serial, RevocationReason::Superseded, now);
        self.invalidate_phones(person_id, RevocationReason::Superseded, now);
        let serial = self.new_serial();
        if let Some(person) = self.people.get_mut(person_id) {
            person.card_serial = serial;
        }
        let credential = self.issue_card(person_id, serial, now)?;
        self.reissue_crl(now)?;
        Ok(credential)
    }

    /// Revokes the certificates of every phone holding this person's card. The phones keep
    /// holding the (now useless) card until it is added again, as the real ones do.
    pub(super) fn invalidate_phones(&mut self, person_id: &str, reason: RevocationReason, now: OffsetDateTime) {
        let serials: Vec<u64> = self.phones.values().filter(|phone| phone.holder.as_deref() == Some(person_id)).map(|phone| phone.serial).collect();
        for serial in serials {
            // A suspension becomes a revocation.
            if self.revoked.get(&serial).is_some_and(|entry| entry.reason == RevocationReason::CertificateHold) {
                self.revoked.remove(&serial);
            }
            self.revoke(serial, reason, now);
        }
    }
}
