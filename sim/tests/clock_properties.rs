//! The grace and warning dates of `clock` against plainly written models: walking the calendar
//! one day at a time, counting month changes, with no month arithmetic at all.

#![allow(clippy::unwrap_used)]

use mynatap_sim::clock::{expiring_soon_from, grace_last_day};
use proptest::prelude::*;
use time::{Date, Duration};

/// The last day of the grace: walk forward from the expiry day until the month has changed four
/// times, then step back one day (the last day of the third month after the month of expiry).
fn plain_grace_last_day(expiry: Date) -> Date {
    let mut day = expiry;
    let mut changes = 0;
    while changes < 4 {
        let next = day + Duration::days(1);
        if next.month() != day.month() {
            changes += 1;
        }
        day = next;
    }
    day - Duration::days(1)
}

/// The first day of the warning: walk back from the expiry day through three month changes, then
/// on within that month to the first day whose day of the month is not after the expiry's.
fn plain_expiring_soon_from(expiry: Date) -> Date {
    let mut day = expiry;
    let mut changes = 0;
    loop {
        let previous = day - Duration::days(1);
        if previous.month() != day.month() {
            changes += 1;
        }
        day = previous;
        if changes == 3 && day.day() <= expiry.day() {
            return day;
        }
    }
}

fn any_date() -> impl Strategy<Value = Date> {
    // 1972-01-01 to 2099-12-31, leap years and centuries' edges included.
    (0i64..46_752).prop_map(|offset| Date::from_calendar_date(1972, time::Month::January, 1).unwrap() + Duration::days(offset))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn grace_agrees_with_walking_the_calendar(expiry in any_date()) {
        prop_assert_eq!(grace_last_day(expiry), plain_grace_last_day(expiry));
    }

    #[test]
    fn warning_agrees_with_walking_the_calendar(expiry in any_date()) {
        prop_assert_eq!(expiring_soon_from(expiry), plain_expiring_soon_from(expiry));
    }
}

/// Every month end of a leap and a common year, by hand: the cases people get wrong.
#[test]
fn month_ends_by_hand() {
    let d = |y, m, day| Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), day).unwrap();
    assert_eq!(grace_last_day(d(2025, 11, 10)), d(2026, 2, 28));
    assert_eq!(grace_last_day(d(2023, 11, 30)), d(2024, 2, 29));
    assert_eq!(grace_last_day(d(2026, 5, 31)), d(2026, 8, 31));
    assert_eq!(expiring_soon_from(d(2024, 5, 31)), d(2024, 2, 29));
    assert_eq!(expiring_soon_from(d(2026, 1, 31)), d(2025, 10, 31));
}
