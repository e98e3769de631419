//! The registry's revocations and the CRLs its authorities issue (lazily signed, one a minute).

use super::*;

impl Registry {
    /// Every authority's certificate without cRLSign (contract 1.3 `world.crl_sign: false`): the
    /// same keys sign every certificate and CRL, but no relying party may trust such a CRL. Call
    /// it before the first certificate is issued (devices carry their issuer's certificate).
    pub fn withhold_crl_sign(&mut self) -> Result<(), RegistryError> {
        self.cas = self.cas.iter().map(CertificateAuthority::without_crl_sign).collect::<Result<Vec<_>, _>>()?;
        self.crls = self.cas.iter().map(|_| std::sync::OnceLock::new()).collect();
        Ok(())
    }

    /// The newest authority's current CRL.
    pub fn crl(&self) -> CrlSnapshot {
        self.crl_of(self.cas.len() - 1)
    }

    /// The current CRL of authority `issuer` (index into [`Registry::cas`]; past the end: the
    /// newest), signed on first use. Signing cannot fail for a CA this registry built (its key
    /// signed a certificate already); if it ever did, the snapshot is empty and a terminal fails
    /// closed on it (`service_unavailable`).
    pub fn crl_of(&self, issuer: usize) -> CrlSnapshot {
        let issuer = issuer.min(self.cas.len() - 1);
        let Some(cell) = self.crls.get(issuer) else { return CrlSnapshot { number: self.crl_number, der: Vec::new().into() } };
        cell.get_or_init(|| {
            let der = self.issuer_crl(issuer, self.crl_this_update, self.crl_this_update + CRL_LIFETIME).unwrap_or_default();
            CrlSnapshot { number: self.crl_number, der: der.into() }
        })
        .clone()
    }

    pub(super) fn entries_of(&self, issuer: usize) -> Vec<CrlEntry> {
        self.revoked.values().filter(|entry| self.issuer_of(entry.serial) == issuer).cloned().collect()
    }

    pub(super) fn issuer_crl(&self, issuer: usize, this_update: OffsetDateTime, next_update: OffsetDateTime) -> Result<Vec<u8>, PkiError> {
        let ca = self.cas.get(issuer).unwrap_or_else(|| self.ca());
        ca.issue_crl(self.crl_number, this_update, next_update, &self.entries_of(issuer))
    }

    /// Authority `issuer`'s current CRL broken as `defect` says (contract 1.3 back-end faults):
    /// for [`CrlDefect::OtherKey`] signed by the next generation's key (the previous one's for the
    /// newest), or the forger's where the world trusts one authority.
    pub fn defective_crl(&self, issuer: usize, defect: CrlDefect) -> Result<CrlSnapshot, RegistryError> {
        let issuer = issuer.min(self.cas.len() - 1);
        let ca = self.cas.get(issuer).unwrap_or_else(|| self.ca());
        let forger;
        let signer = match defect {
            CrlDefect::OtherKey if self.cas.len() > 1 => {
                self.cas.get(if issuer + 1 < self.cas.len() { issuer + 1 } else { issuer.saturating_sub(1) }).unwrap_or(ca)
            }
            CrlDefect::OtherKey => {
                forger = CertificateAuthority::forged(self.seed, self.ca().algorithm())?;
                &forger
            }
            _ => ca,
        };
        let times = (self.crl_number, self.crl_this_update, self.crl_this_update + CRL_LIFETIME);
        let der = ca.issue_defective_crl(times, &self.entries_of(issuer), defect, signer)?;
        Ok(CrlSnapshot { number: self.crl_number, der: der.into() })
    }

    /// How many certificates are on the CRL (every generation's).
    pub fn revoked_count(&self) -> usize {
        self.revoked.len()
    }

    /// The current entries signed with any validity window, under the current CRL number (for
    /// distribution points that serve a CRL issued at another time, e.g. a stale cached copy).
    pub fn crl_issued(&self, issuer: usize, this_update: OffsetDateTime, next_update: OffsetDateTime) -> Result<Vec<u8>, RegistryError> {
        Ok(self.issuer_crl(issuer.min(self.cas.len() - 1), this_update, next_update)?)
    }

    /// Issues the next CRL when the current one has lapsed at `now`, as a CA does on schedule,
    /// so the distribution point always hands out a current list.
    pub fn keep_crl_fresh(&mut self, now: OffsetDateTime) -> Result<(), RegistryError> {
        if now > self.crl_next_update { self.reissue_crl(now) } else { Ok(()) }
    }

    /// The next CRL: a new number at `now` over the entries as they are (every change to
    /// `revoked` ends here, so the entries cannot change before it is signed).
    pub(super) fn reissue_crl(&mut self, now: OffsetDateTime) -> Result<(), RegistryError> {
        self.crl_number += 1;
        self.crl_this_update = now;
        self.crls = self.cas.iter().map(|_| std::sync::OnceLock::new()).collect();
        self.crl_next_update = now + CRL_LIFETIME;
        Ok(())
    }

    pub(super) fn revoke(&mut self, serial: u64, reason: RevocationReason, now: OffsetDateTime) {
        let stays_revoked = self.revoked.get(&serial).is_some_and(|entry| entry.reason != RevocationReason::CertificateHold);
        if !stays_revoked {
            self.revoked.insert(serial, CrlEntry { serial, revoked_at: now, reason });
            self.crl_log.push((serial, now, reason.name()));
        }
    }

    /// Why a serial is on the CRL, if it is.
    pub fn revocation_of(&self, serial: u64) -> Option<RevocationReason> {
        self.revoked.get(&serial).map(|entry| entry.reason)
    }

    /// Every CRL number issued, when, and why.
    pub fn crl_log(&self) -> &[(u64, OffsetDateTime, &'static str)] {
        &self.crl_log
    }

    /// Bench helper: fills the CRL with `count` unrelated revoked serials.
    pub fn add_unrelated_revocations(&mut self, count: usize, now: OffsetDateTime) -> Result<(), RegistryError> {
        for _ in 0..count {
            let serial = self.new_serial();
            self.holders.insert(serial, String::new());
            self.revoked.insert(serial, CrlEntry { serial, revoked_at: now, reason: RevocationReason::KeyCompromise });
        }
        self.reissue_crl(now)
    }
}
