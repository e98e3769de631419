//! The device a command personalises (`mynatap card`, `serve-card`, `capture`): its profile, seed,
//! PIN and what is printed on it.

use std::path::PathBuf;

use anyhow::Context;
use clap::ValueEnum;
use mynatap_sim::pki::DEFAULT_SEED;
use mynatap_sim::profile::{DeviceKind, Profile};

use crate::InputError;

#[derive(clap::Args, Debug)]
pub(crate) struct CardArgs {
    #[arg(long, value_enum, default_value_t = ProfileName::Android)]
    pub(crate) profile: ProfileName,
    /// Load the profile from this YAML file instead (a vendor's device).
    #[arg(long)]
    pub(crate) profile_file: Option<PathBuf>,
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub(crate) seed: u64,
    /// The PIN the card or Android phone holds.
    #[arg(long, default_value = "1234")]
    pub(crate) pin: String,
    /// iPhone: Face ID / Touch ID done, the key is open.
    #[arg(long)]
    pub(crate) user_verified: bool,
    /// Card: the birth date printed on it (YYYY-MM-DD; the birth-date key and number B write it
    /// with the Japanese era year).
    #[arg(long, value_name = "YYYY-MM-DD", default_value = "1990-05-12")]
    pub(crate) birth_date: String,
    /// Card: its own expiry date printed on it (YYYY-MM-DD; the year is part of number B).
    #[arg(long, value_name = "YYYY-MM-DD", default_value = "2030-09-19")]
    pub(crate) expires: String,
    /// Card: the 4-digit security code printed under the photo.
    #[arg(long, value_name = "DIGITS", default_value = "0000")]
    pub(crate) security_code: String,
    /// Card: a forged or cloned card: photo_swapped, face_signature_invalid, unknown_surface_ca
    /// or clone (docs/scenario-format.md, contract 1.2).
    #[arg(long, value_name = "KIND")]
    pub(crate) forgery: Option<String>,
}

impl CardArgs {
    /// The printed fields at their defaults (for commands that make a card without those flags).
    pub(crate) fn default_printed() -> Self {
        Self {
            profile: ProfileName::Card,
            profile_file: None,
            seed: DEFAULT_SEED,
            pin: "1234".into(),
            user_verified: false,
            birth_date: "1990-05-12".into(),
            expires: "2030-09-19".into(),
            security_code: "0000".into(),
            forgery: None,
        }
    }
}

/// Personalises the device `args` describe; for the physical card, says on stderr what is printed
/// on it (number B and the birth-date key), as a person at a terminal would read them off it.
pub(crate) fn personalise(args: &CardArgs) -> anyhow::Result<mynatap_sim::card::Card> {
    let date = |flag: &str, text: &str| {
        time::Date::parse(text, time::macros::format_description!("[year]-[month]-[day]"))
            .map_err(|_| InputError(format!("--{flag}: expected a date YYYY-MM-DD, got `{text}`")))
    };
    let printed = mynatap_sim::credential::DemoPrinted {
        birth_date: date("birth-date", &args.birth_date)?,
        expires: date("expires", &args.expires)?,
        security_code: args.security_code.clone(),
        forgery: args
            .forgery
            .as_deref()
            .map(|name| {
                mynatap_sim::card::surface::Forgery::parse(name).ok_or_else(|| {
                    InputError(format!("--forgery: unknown kind `{name}` (expected photo_swapped, face_signature_invalid, unknown_surface_ca or clone)"))
                })
            })
            .transpose()?,
    };
    if printed.security_code.len() != 4 || !printed.security_code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InputError(format!("--security-code: expected the 4 digits printed on the card, got `{}`", printed.security_code)).into());
    }
    let profile = load_profile(args)?;
    let is_card = profile.device == DeviceKind::Card;
    let card = mynatap_sim::credential::demo_card_printed(profile, args.seed, &args.pin, &printed).context("cannot personalise the card")?;
    if is_card {
        let birth = mynatap_sim::card::surface::era_yymmdd(&mynatap_sim::clock::yyyymmdd(printed.birth_date));
        note!("mynatap: printed on the card: number B {} (birth-date key {birth})", card.printed_number_b().unwrap_or_default());
    }
    Ok(card)
}

pub(crate) fn load_profile(args: &CardArgs) -> anyhow::Result<Profile> {
    let profile = match &args.profile_file {
        Some(path) => {
            let text = mynatap_harness::files::read_text(path, 256 * 1024).map_err(|e| InputError(format!("cannot read profile {e}")))?;
            Profile::from_yaml(&path.display().to_string(), &text).map_err(|e| InputError(e.to_string()))?
        }
        None => Profile::builtin(args.profile.device()),
    };
    let digits = usize::from(profile.auth_pin.digits);
    if args.pin.len() != digits || !args.pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InputError(format!("--pin: the {} profile's PIN has {digits} digits, got `{}`", profile.name, args.pin)).into());
    }
    Ok(profile)
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum ProfileName {
    Android,
    Iphone,
    Card,
}

impl ProfileName {
    pub(crate) fn device(self) -> DeviceKind {
        match self {
            Self::Android => DeviceKind::Android,
            Self::Iphone => DeviceKind::Iphone,
            Self::Card => DeviceKind::Card,
        }
    }
}

pub(crate) fn card(args: CardArgs) -> anyhow::Result<u8> {
    let mut card = personalise(&args)?;
    let stdin = std::io::stdin();
    mynatap_harness::play::card_pipe::serve(&mut card, args.user_verified, stdin.lock(), std::io::stdout().lock(), std::io::stderr().lock())?;
    Ok(0)
}
