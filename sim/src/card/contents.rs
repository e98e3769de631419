//! What a card is personalised with: keys, certificates, PINs, and the holder's data as the
//! card-info application stores it (BER-TLV).

use crate::pki::{LazyCertificate, SigningKey};
use std::sync::Arc;

use super::surface::LazySurfaceFiles;
use crate::tlv::push_tlv;

/// Everything that goes into a card when it is personalised. Cloneable so one issuance can
/// personalise many cards (fuzzing, benches); once inside a [`Card`](super::Card) the keys have no way out.
#[derive(Clone)]
pub struct CardCredential {
    /// The user-authentication key (answers the sign command after the PIN or unlock).
    pub auth_key: SigningKey,
    /// The user-authentication certificate (signed when first read).
    pub auth_cert: Arc<LazyCertificate>,
    /// The signature key (JPKI signature; not used by the clinic flow).
    pub sign_key: SigningKey,
    /// The signature certificate (signed when first read).
    pub sign_cert: Arc<LazyCertificate>,
    /// The issuing CA's certificate (files `00 0B` and `00 02`).
    pub ca_cert: Vec<u8>,
    /// User-authentication PIN (the card's, or an Android phone's own).
    pub auth_pin: String,
    /// The signature password.
    pub sign_password: String,
    /// Card-info input support PIN (SETUP-2 on an iPhone).
    pub card_info_pin: String,
    /// The holder's data as the card-info application stores it.
    pub holder_info: HolderInfo,
    /// The card-surface application's contents (the physical card only).
    pub surface: Option<SurfaceCredential>,
}

/// The physical card's card-surface application: what is printed, the signed files, and the
/// card's own key (which answers `80 2A 00 00` without a PIN).
#[derive(Clone)]
pub struct SurfaceCredential {
    /// What is printed and the signed files (signed when first read).
    pub files: Arc<LazySurfaceFiles>,
    /// The card's own key: answers `80 2A 00 00` without a PIN.
    pub card_key: SigningKey,
}

impl std::fmt::Debug for SurfaceCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SurfaceCredential").field("files", &self.files).field("card_key", &"<secret>").finish()
    }
}

impl std::fmt::Debug for CardCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardCredential").field("holder_info", &self.holder_info).field("keys", &"<secret>").finish()
    }
}

/// The card-info input support application's content (basic four items and My Number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderInfo {
    /// Name (basic four items).
    pub name: String,
    /// Address (basic four items).
    pub address: String,
    /// `YYYYMMDD`
    pub birth_date: String,
    /// `1` male, `2` female, `9` not applicable
    pub sex: String,
    /// The holder's My Number (12 digits).
    pub my_number: String,
}

impl HolderInfo {
    /// The BER-TLV basic-four-items file: `FF 20` holding `DF 21` (offsets) and `DF 22`..`DF 25`.
    pub fn basic_four_tlv(&self) -> Vec<u8> {
        let items: [(u8, &[u8]); 4] =
            [(0x22, self.name.as_bytes()), (0x23, self.address.as_bytes()), (0x24, self.birth_date.as_bytes()), (0x25, self.sex.as_bytes())];
        let mut body = Vec::new();
        let mut offsets = Vec::new();
        // DF 21 holds the 2-byte offset of each item inside the template's value; it comes first,
        // so its own size (3 + 2 * 4 bytes, short length) is known up front.
        let mut position = 3 + 2 * items.len();
        for (tag, value) in items {
            offsets.extend_from_slice(&(position as u16).to_be_bytes());
            let before = body.len();
            push_tlv(&mut body, &[0xDF, tag], value);
            position += body.len() - before;
        }
        let mut value = Vec::new();
        push_tlv(&mut value, &[0xDF, 0x21], &offsets);
        value.extend_from_slice(&body);
        let mut out = Vec::new();
        push_tlv(&mut out, &[0xFF, 0x20], &value);
        out
    }
}
