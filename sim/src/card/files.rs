//! The card's files: SELECT by AID and by file id, which elementary file is readable in which
//! state, and READ BINARY.

use super::*;

impl Card {
    pub(super) fn select(&mut self, command: &CommandApdu) -> ResponseApdu {
        // P2 0C: no response data (what JPKI readers send); 00 is accepted and answers the same.
        if !matches!(command.p2, 0x0C | 0x00) {
            return ResponseApdu::status(StatusWord::WRONG_P1_P2);
        }
        match command.p1 {
            0x04 => {
                let application = if command.data == self.profile.jpki.aid.0 {
                    Application::Jpki
                } else if self.profile.card_info.as_ref().is_some_and(|app| command.data == app.aid.0) {
                    Application::CardInfo
                } else if self.profile.card_surface.as_ref().is_some_and(|app| command.data == app.aid.0) {
                    Application::CardSurface
                } else if command.data.is_empty() {
                    return ResponseApdu::status(StatusWord::WRONG_LENGTH);
                } else {
                    return ResponseApdu::status(StatusWord::FILE_NOT_FOUND);
                };
                if self.volatile.application != Some(application) {
                    // Security state belongs to the application: leaving it drops what was verified.
                    self.volatile.auth_verified = false;
                    self.volatile.sign_verified = false;
                    self.volatile.card_info_verified = false;
                    self.volatile.number_a_verified = false;
                    self.volatile.number_b_verified = false;
                    self.volatile.birth_date_verified = false;
                }
                self.volatile.application = Some(application);
                self.volatile.ef = None;
                ResponseApdu::status(StatusWord::SUCCESS)
            }
            0x02 => {
                let Ok(fid) = <[u8; 2]>::try_from(command.data.as_slice()) else {
                    return ResponseApdu::status(StatusWord::WRONG_LENGTH);
                };
                match self.volatile.application.and_then(|app| self.find_ef(app, FileId(fid))) {
                    Some(ef) => {
                        self.volatile.ef = Some(ef);
                        ResponseApdu::status(StatusWord::SUCCESS)
                    }
                    None => ResponseApdu::status(StatusWord::FILE_NOT_FOUND),
                }
            }
            // No master file to select (P1 00), and no other selection method.
            _ => ResponseApdu::status(StatusWord::WRONG_P1_P2),
        }
    }

    pub(super) fn find_ef(&self, application: Application, fid: FileId) -> Option<Ef> {
        match application {
            Application::Jpki => {
                let j = &self.profile.jpki;
                [
                    (j.token_info, Ef::TokenInfo),
                    (j.auth_cert, Ef::AuthCert),
                    (j.auth_ca_cert, Ef::AuthCaCert),
                    (j.auth_pin, Ef::AuthPin),
                    (j.auth_key, Ef::AuthKey),
                    (j.sign_cert, Ef::SignCert),
                    (j.sign_ca_cert, Ef::SignCaCert),
                    (j.sign_password, Ef::SignPassword),
                    (j.sign_key, Ef::SignKey),
                ]
                .into_iter()
                .find_map(|(id, ef)| (id == fid).then_some(ef))
            }
            Application::CardInfo => {
                let c = self.profile.card_info.as_ref()?;
                [(c.pin, Ef::CardInfoPin), (c.my_number, Ef::MyNumber), (c.basic_four, Ef::BasicFour)]
                    .into_iter()
                    .find_map(|(id, ef)| (id == fid).then_some(ef))
            }
            Application::CardSurface => {
                let c = self.profile.card_surface.as_ref()?;
                [
                    (c.number_a, Ef::NumberA),
                    (c.number_b, Ef::NumberB),
                    (c.birth_date_key, Ef::BirthDateKey),
                    (c.birth_date, Ef::AgeRecord),
                    (c.entries, Ef::CardFace),
                    (c.basic_data, Ef::SurfaceBasicData),
                    (c.certificate, Ef::SurfaceCertificate),
                    (c.my_number_image, Ef::MyNumberImage),
                ]
                .into_iter()
                .find_map(|(id, ef)| (id == fid).then_some(ef))
            }
        }
    }

    /// The card-surface files; a card without the application has none (its files cannot be
    /// selected), and a signer that fails is the card's technical problem.
    pub(super) fn surface_files(&self) -> Result<&SurfaceFiles, StatusWord> {
        static NONE: SurfaceFiles =
            SurfaceFiles { age_record: Vec::new(), card_face: Vec::new(), basic_data: Vec::new(), certificate: Vec::new(), my_number_image: Vec::new() };
        match &self.surface {
            Some(lazy) => lazy.files().map_err(|_| StatusWord::TECHNICAL_PROBLEM),
            None => Ok(&NONE),
        }
    }

    /// The content of a readable file, or the status word that refuses the read.
    pub(super) fn readable(&self, ef: Ef) -> Result<&[u8], StatusWord> {
        let v = &self.volatile;
        match ef {
            Ef::TokenInfo => Ok(&self.token_info),
            Ef::AuthCert if self.profile.auth_cert_needs_pin && !v.auth_verified => Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED),
            Ef::AuthCert => self.auth_cert.der().map_err(|_| StatusWord::TECHNICAL_PROBLEM),
            Ef::AuthCaCert | Ef::SignCaCert => Ok(&self.ca_cert),
            // The signature certificate carries the holder's personal data: password first.
            Ef::SignCert if !v.sign_verified => Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED),
            Ef::SignCert => self.sign_cert.der().map_err(|_| StatusWord::TECHNICAL_PROBLEM),
            Ef::MyNumber | Ef::BasicFour if !v.card_info_verified => Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED),
            Ef::MyNumber => Ok(&self.my_number),
            Ef::BasicFour => Ok(&self.basic_four),
            // As measured on the JPKI test card: the birth-date key opens the age record only;
            // number B the card face; number A the card face and the My Number image; the basic
            // data and the certificate open with nothing.
            Ef::AgeRecord if !v.birth_date_verified => Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED),
            Ef::AgeRecord => self.surface_files().map(|files| files.age_record.as_slice()),
            Ef::CardFace if !(v.number_a_verified || v.number_b_verified) => Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED),
            Ef::CardFace => self.surface_files().map(|files| files.card_face.as_slice()),
            Ef::SurfaceBasicData => self.surface_files().map(|files| files.basic_data.as_slice()),
            Ef::SurfaceCertificate => self.surface_files().map(|files| files.certificate.as_slice()),
            Ef::MyNumberImage if !v.number_a_verified => Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED),
            Ef::MyNumberImage => self.surface_files().map(|files| files.my_number_image.as_slice()),
            // Keys and PINs are never readable.
            Ef::AuthPin | Ef::AuthKey | Ef::SignPassword | Ef::SignKey | Ef::CardInfoPin | Ef::NumberA | Ef::NumberB | Ef::BirthDateKey => {
                Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED)
            }
        }
    }

    pub(super) fn read_binary(&mut self, command: &CommandApdu) -> ResponseApdu {
        if command.p1 & 0x80 != 0 {
            // Short EF identifiers are not part of the JPKI interface.
            return ResponseApdu::status(StatusWord::WRONG_P1_P2);
        }
        let Some(ne) = command.ne else {
            return ResponseApdu::status(StatusWord::WRONG_LENGTH);
        };
        if !command.data.is_empty() {
            return ResponseApdu::status(StatusWord::WRONG_LENGTH);
        }
        let Some(ef) = self.volatile.ef else {
            return ResponseApdu::status(StatusWord::NO_CURRENT_EF);
        };
        let content = match self.readable(ef) {
            Ok(content) => content,
            Err(sw) => return ResponseApdu::status(sw),
        };
        let offset = usize::from(u16::from_be_bytes([command.p1, command.p2]));
        if offset >= content.len() {
            return ResponseApdu::status(StatusWord::OFFSET_OUT_OF_RANGE);
        }
        let end = content.len().min(offset + ne as usize);
        ResponseApdu::success(content.get(offset..end).unwrap_or_default().to_vec())
    }
}
