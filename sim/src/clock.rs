//! The world's time. Nothing in the simulator reads the system clock: the scenario owns the time
//! and passes it in. Dates (expiry, insurance validity, birth dates) are calendar dates in Japan.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Japan Standard Time, the offset every calendar date of the domain is read in.
pub const JST: UtcOffset = match UtcOffset::from_hms(9, 0, 0) {
    Ok(offset) => offset,
    Err(_) => UtcOffset::UTC,
};

/// The range the world's clock may stand in. Every default the scenario format derives from the
/// clock (a card certificate five years on, insurance two years on) and every X.509 time (up to
/// the year 9999) must stay representable, so the clock stops a decade short of that. X.509 times
/// are written from Unix time, so the clock starts at the Unix epoch (09:00 JST on 1970-01-01).
pub const EARLIEST: OffsetDateTime = time::macros::datetime!(1970-01-01 09:00 +09:00);
/// The latest instant a world's clock may reach.
pub const LATEST: OffsetDateTime = time::macros::datetime!(9989-12-31 23:59:59 +09:00);

/// `now + by`, or `None` when that leaves [`EARLIEST`]..=[`LATEST`] (never a panic).
pub fn checked_add(now: OffsetDateTime, by: time::Duration) -> Option<OffsetDateTime> {
    now.checked_add(by).filter(|moved| (EARLIEST..=LATEST).contains(moved))
}

/// The last second of `date` in Japan: a certificate "expiring on" a date is valid through it.
pub fn end_of_day(date: Date) -> OffsetDateTime {
    PrimitiveDateTime::new(date, Time::from_hms(23, 59, 59).unwrap_or(Time::MIDNIGHT)).assume_offset(JST)
}

/// `now` without its fraction of a second. X.509 times have one-second precision, so an instant
/// is compared with them at the second it falls in: a certificate whose notAfter is 23:59:59 is
/// still valid at 23:59:59.900. Every validity comparison of the domain (terminal and registry)
/// goes through here, so the two never disagree.
pub fn whole_seconds(now: OffsetDateTime) -> OffsetDateTime {
    now.replace_nanosecond(0).unwrap_or(now)
}

/// Whether a validity period ending at `not_after` (inclusive, whole seconds) covers `now`.
pub fn valid_through(not_after: OffsetDateTime, now: OffsetDateTime) -> bool {
    whole_seconds(now) <= not_after
}

/// The calendar date in Japan at `now`.
pub fn local_date(now: OffsetDateTime) -> Date {
    now.to_offset(JST).date()
}

/// `date` plus whole years; 29 February becomes 28 February in a common year.
pub fn add_years(date: Date, years: i32) -> Date {
    let year = date.year().saturating_add(years);
    Date::from_calendar_date(year, date.month(), date.day()).or_else(|_| Date::from_calendar_date(year, Month::February, 28)).unwrap_or(date)
}

/// The first day on which someone born on `birth_date` is `years` old, in Japan's reckoning
/// (Act on Calculation of Age with Civil Code art. 143): a year of age ends at the close of the
/// day before the birthday's anniversary, so someone born on 29 February turns a year older at
/// the end of 28 February in a common year and is that age from 1 March.
///
/// The day before the anniversary is counted in the anniversary's year: someone born on 1 March
/// 2013 is 14 through 29 February 2028 and 15 from 1 March (the rules model found the first
/// version of this function counting the eve in the birth year, which made them 15 a day early).
pub fn first_day_of_age(birth_date: Date, years: i32) -> Date {
    let year = birth_date.year().saturating_add(years);
    Date::from_calendar_date(year, birth_date.month(), birth_date.day()).or_else(|_| Date::from_calendar_date(year, Month::March, 1)).unwrap_or(birth_date)
}

/// `date` as the card's files and printed fields write it: `YYYYMMDD`.
pub fn yyyymmdd(date: Date) -> String {
    format!("{:04}{:02}{:02}", date.year(), u8::from(date.month()), date.day())
}

/// The last day of `year`-`month`.
fn last_day_of_month(year: i32, month: Month) -> Option<Date> {
    Date::from_calendar_date(year, month, time::util::days_in_month(month, year)).ok()
}

/// The month `months` after (or before, when negative) `year`-`month`.
fn shift_month(year: i32, month: Month, months: i32) -> (i32, Month) {
    let index = year.saturating_mul(12).saturating_add(i32::from(u8::from(month)) - 1).saturating_add(months);
    let (year, month0) = (index.div_euclid(12), index.rem_euclid(12));
    (year, Month::try_from(month0 as u8 + 1).unwrap_or(Month::January))
}

/// How many months the physical card stays usable for eligibility after its user-authentication
/// certificate expired (MHLW: "three months from the last day of the month of expiry").
pub const CARD_GRACE_MONTHS: i32 = 3;

/// The last day (JST) on which a physical card whose certificate's last valid day was `expiry` is
/// still accepted in grace: the last day of the third month after the month of `expiry`
/// (2025-11-10 and 2025-11-30 both give 2026-02-28). MHLW's wording counts from the month's end,
/// so the day of the month never matters.
pub fn grace_last_day(expiry: Date) -> Date {
    let (year, month) = shift_month(expiry.year(), expiry.month(), CARD_GRACE_MONTHS);
    last_day_of_month(year, month).unwrap_or(Date::MAX)
}

/// The first day on which a verified tap warns that the certificate expires soon: the same day
/// of the month three months before `expiry`, or that month's last day where it has no such day
/// (expiry 2026-05-31 warns from 2026-02-28).
pub fn expiring_soon_from(expiry: Date) -> Date {
    let (year, month) = shift_month(expiry.year(), expiry.month(), -CARD_GRACE_MONTHS);
    let days = time::util::days_in_month(month, year);
    Date::from_calendar_date(year, month, expiry.day().min(days)).unwrap_or(Date::MIN)
}

/// Where a certificate whose last valid day is `expiry` stands on `today` (both JST dates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryStanding {
    /// Valid, and not within three months of expiry.
    Valid,
    /// Valid, and expiring within three months (from [`expiring_soon_from`] through `expiry`).
    ExpiringSoon,
    /// Expired, and within the card's grace (through [`grace_last_day`]): the physical card only.
    InGrace,
    /// Expired past any grace.
    Expired,
}

/// The one rule for expiry, grace and the warning, at whole seconds: `not_after` is the
/// certificate's last valid instant (23:59:59 JST of its last day), `now` the world's time.
pub fn expiry_standing(not_after: OffsetDateTime, now: OffsetDateTime) -> ExpiryStanding {
    let (expiry, today) = (local_date(not_after), local_date(whole_seconds(now)));
    if valid_through(not_after, now) {
        if today >= expiring_soon_from(expiry) { ExpiryStanding::ExpiringSoon } else { ExpiryStanding::Valid }
    } else if today <= grace_last_day(expiry) {
        ExpiryStanding::InGrace
    } else {
        ExpiryStanding::Expired
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn dates_are_read_in_japan() {
        assert_eq!(local_date(datetime!(2026-03-31 15:30 UTC)), date!(2026 - 04 - 01));
        assert_eq!(end_of_day(date!(2030 - 05 - 12)), datetime!(2030-05-12 14:59:59 UTC));
        assert_eq!(add_years(date!(2012 - 02 - 29), 15), date!(2027 - 02 - 28));
        assert_eq!(first_day_of_age(date!(2012 - 02 - 29), 15), date!(2027 - 03 - 01));
        assert_eq!(first_day_of_age(date!(2012 - 02 - 29), 16), date!(2028 - 02 - 29));
        assert_eq!(first_day_of_age(date!(1990 - 05 - 12), 15), date!(2005 - 05 - 12));
        assert_eq!(first_day_of_age(date!(2000 - 03 - 01), 15), date!(2015 - 03 - 01));
        // The eve of a 1 March anniversary in a leap year is 29 February: still 14 then.
        assert_eq!(first_day_of_age(date!(2013 - 03 - 01), 15), date!(2028 - 03 - 01));
        let last = end_of_day(date!(2030 - 05 - 12));
        assert!(valid_through(last, datetime!(2030-05-12 23:59:59.900 +09:00)));
        assert!(!valid_through(last, datetime!(2030-05-13 00:00 +09:00)));
    }

    #[test]
    fn grace_runs_to_the_end_of_the_third_month_after_expiry() {
        assert_eq!(grace_last_day(date!(2025 - 11 - 10)), date!(2026 - 02 - 28));
        assert_eq!(grace_last_day(date!(2025 - 11 - 30)), date!(2026 - 02 - 28));
        assert_eq!(grace_last_day(date!(2027 - 11 - 01)), date!(2028 - 02 - 29), "leap year");
        assert_eq!(grace_last_day(date!(2026 - 01 - 31)), date!(2026 - 04 - 30));
        assert_eq!(grace_last_day(date!(2026 - 10 - 15)), date!(2027 - 01 - 31), "over the year's end");
        assert_eq!(grace_last_day(date!(2026 - 12 - 31)), date!(2027 - 03 - 31));
        assert_eq!(expiring_soon_from(date!(2026 - 05 - 31)), date!(2026 - 02 - 28));
        assert_eq!(expiring_soon_from(date!(2028 - 05 - 31)), date!(2028 - 02 - 29));
        assert_eq!(expiring_soon_from(date!(2026 - 06 - 15)), date!(2026 - 03 - 15));
        assert_eq!(expiring_soon_from(date!(2026 - 02 - 10)), date!(2025 - 11 - 10), "over the year's start");
        let last = end_of_day(date!(2025 - 11 - 10));
        assert_eq!(expiry_standing(last, datetime!(2025-08-09 23:59:59 +09:00)), ExpiryStanding::Valid);
        assert_eq!(expiry_standing(last, datetime!(2025-08-10 00:00 +09:00)), ExpiryStanding::ExpiringSoon);
        assert_eq!(expiry_standing(last, datetime!(2025-11-10 23:59:59.900 +09:00)), ExpiryStanding::ExpiringSoon);
        assert_eq!(expiry_standing(last, datetime!(2025-11-11 00:00 +09:00)), ExpiryStanding::InGrace);
        assert_eq!(expiry_standing(last, datetime!(2026-02-28 23:59:59 +09:00)), ExpiryStanding::InGrace);
        assert_eq!(expiry_standing(last, datetime!(2026-03-01 00:00 +09:00)), ExpiryStanding::Expired);
    }
}
