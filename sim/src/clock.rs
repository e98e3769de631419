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
/// the year 9999) must stay representable, so the clock stops a decade short of that.
pub const EARLIEST: OffsetDateTime = time::macros::datetime!(1970-01-01 00:00 +09:00);
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
    Date::from_calendar_date(year, date.month(), date.day())
        .or_else(|_| Date::from_calendar_date(year, Month::February, 28))
        .unwrap_or(date)
}

/// The first day on which someone born on `birth_date` is `years` old, in Japan's reckoning
/// (Act on Calculation of Age with Civil Code art. 143): a year of age ends at the close of the
/// day before the birthday's anniversary, so someone born on 29 February turns a year older at
/// the end of 28 February in a common year and is that age from 1 March.
pub fn first_day_of_age(birth_date: Date, years: i32) -> Date {
    let eve = birth_date.previous_day().unwrap_or(birth_date);
    let last_day_younger = add_years(eve, years);
    last_day_younger.next_day().unwrap_or(last_day_younger)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn dates_are_read_in_japan() {
        assert_eq!(local_date(datetime!(2026-03-31 15:30 UTC)), date!(2026-04-01));
        assert_eq!(end_of_day(date!(2030-05-12)), datetime!(2030-05-12 14:59:59 UTC));
        assert_eq!(add_years(date!(2012-02-29), 15), date!(2027-02-28));
        assert_eq!(first_day_of_age(date!(2012-02-29), 15), date!(2027-03-01));
        assert_eq!(first_day_of_age(date!(2012-02-29), 16), date!(2028-02-29));
        assert_eq!(first_day_of_age(date!(1990-05-12), 15), date!(2005-05-12));
        assert_eq!(first_day_of_age(date!(2000-03-01), 15), date!(2015-03-01));
        let last = end_of_day(date!(2030-05-12));
        assert!(valid_through(last, datetime!(2030-05-12 23:59:59.900 +09:00)));
        assert!(!valid_through(last, datetime!(2030-05-13 00:00 +09:00)));
    }
}
