//! The world's time. Nothing in the simulator reads the system clock: the scenario owns the time
//! and passes it in. Dates (expiry, insurance validity, birth dates) are calendar dates in Japan.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Japan Standard Time, the offset every calendar date of the domain is read in.
pub const JST: UtcOffset = match UtcOffset::from_hms(9, 0, 0) {
    Ok(offset) => offset,
    Err(_) => UtcOffset::UTC,
};

/// The last second of `date` in Japan: a certificate "expiring on" a date is valid through it.
pub fn end_of_day(date: Date) -> OffsetDateTime {
    PrimitiveDateTime::new(date, Time::from_hms(23, 59, 59).unwrap_or(Time::MIDNIGHT)).assume_offset(JST)
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
    }
}
