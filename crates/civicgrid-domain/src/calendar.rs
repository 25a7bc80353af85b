//! The working-hours calendar that case time limits are counted in: which days
//! are worked (China's public holidays and adjusted working days, 调休) and which
//! hours of a working day count.
//!
//! Time limits of the case workflow are "working hours" (工作时): a deadline from a
//! start time skips nights, lunch breaks, weekends and holidays. The holiday
//! table is data, so an administrator loads next year's arrangement when the
//! State Council publishes it; a year without data is treated as weekends only.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::Offset;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The 2025 and 2026 arrangements, from the State Council General Office's
/// notices of 2024-11-12 and 2025-11-04.
const CHINA_CSV: &str = include_str!("../data/cn-holidays-2025-2026.csv");
/// 2027's statutory holidays only, until the State Council's notice for 2027
/// (with its make-up rest days and adjusted working days) is loaded over it.
const CHINA_2027_CSV: &str = include_str!("../data/cn-holidays-2027-provisional.csv");

/// Why a calendar or a working day could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("calendar line {line}: {reason}")]
    BadLine { line: usize, reason: String },
    #[error("a working day needs at least one period")]
    NoPeriods,
    #[error("working period {start}-{end} must end after it starts and after the previous period ends")]
    BadPeriod { start: Time, end: Time },
}

/// What a listed day is: a rest day on a weekday, or a worked weekend day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    /// A public-holiday rest day (放假).
    Holiday,
    /// A weekend day that is worked to make up for a bridge day (调休上班).
    Workday,
}

/// A day the calendar lists, with the holiday it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecialDay {
    pub kind: DayKind,
    pub name: String,
}

/// The periods of a working day, in the calendar's local time, in order and
/// not overlapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkDay {
    periods: Vec<(Time, Time)>,
}

impl WorkDay {
    pub fn new(periods: Vec<(Time, Time)>) -> Result<Self, CalendarError> {
        if periods.is_empty() {
            return Err(CalendarError::NoPeriods);
        }
        let mut previous_end: Option<Time> = None;
        for &(start, end) in &periods {
            if end <= start || previous_end.is_some_and(|p| start < p) {
                return Err(CalendarError::BadPeriod { start, end });
            }
            previous_end = Some(end);
        }
        Ok(WorkDay { periods })
    }

    /// 08:30–12:00 and 14:00–17:30, the office hours of most district and
    /// street offices.
    pub fn standard() -> Self {
        WorkDay {
            periods: vec![
                (Time::constant(8, 30, 0, 0), Time::constant(12, 0, 0, 0)),
                (Time::constant(14, 0, 0, 0), Time::constant(17, 30, 0, 0)),
            ],
        }
    }

    pub fn periods(&self) -> &[(Time, Time)] {
        &self.periods
    }

    /// Length of a whole working day.
    pub fn length(&self) -> SignedDuration {
        self.periods.iter().map(|&(s, e)| e.duration_since(s)).sum()
    }

    /// Periods as nanoseconds since local midnight.
    fn nanos(&self) -> impl Iterator<Item = (i128, i128)> + '_ {
        self.periods.iter().map(|&(s, e)| (time_nanos(s), time_nanos(e)))
    }
}

fn time_nanos(t: Time) -> i128 {
    t.duration_since(Time::midnight()).as_nanos()
}

/// Which days are worked, which hours of them count, and in which UTC offset.
///
/// Years listed in the data follow it; any other year (2028 until its
/// arrangement is loaded) is "weekends only": Monday to Friday are working
/// days, public holidays included. [`WorkCalendar::covers`] tells which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkCalendar {
    special: BTreeMap<Date, SpecialDay>,
    years: BTreeSet<i16>,
    work_day: WorkDay,
    offset: Offset,
}

impl WorkCalendar {
    /// China's calendar for 2025 and 2026 as the State Council arranged
    /// them, and 2027's statutory holidays (provisional: without the make-up
    /// days and swaps its notice adds; load the notice to replace them), in
    /// China Standard Time (UTC+8, no daylight saving since 1991) with
    /// [`WorkDay::standard`].
    pub fn china() -> Self {
        // The embedded files are checked by a test, so this cannot fail in a
        // release; falling back to weekends only keeps the domain panic-free.
        let mut cal = Self::parse(CHINA_CSV).unwrap_or_else(|_| Self::weekends_only());
        if cal.load(CHINA_2027_CSV).is_err() {
            return Self::weekends_only();
        }
        cal
    }

    /// A calendar with no holidays at all, in UTC+8.
    pub fn weekends_only() -> Self {
        WorkCalendar {
            special: BTreeMap::new(),
            years: BTreeSet::new(),
            work_day: WorkDay::standard(),
            offset: Offset::constant(8),
        }
    }

    /// Parses `date,kind,name` lines (kind `holiday` or `workday`). Blank lines,
    /// `#` comments and the header line are skipped. Every year that appears is
    /// then "covered": its unlisted weekdays are worked, its weekends rested.
    pub fn parse(csv: &str) -> Result<Self, CalendarError> {
        let mut calendar = Self::weekends_only();
        calendar.load(csv)?;
        Ok(calendar)
    }

    /// Adds the arrangement of more years (say 2027, once published), replacing
    /// whatever the calendar held for the years the data names.
    pub fn load(&mut self, csv: &str) -> Result<(), CalendarError> {
        let mut days = BTreeMap::new();
        for (i, raw) in csv.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with("date,") {
                continue;
            }
            let bad = |reason: String| CalendarError::BadLine { line: i + 1, reason };
            let mut parts = line.splitn(3, ',');
            let (date, kind, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next());
            let date: Date = date.trim().parse().map_err(|e| bad(format!("bad date {date:?}: {e}")))?;
            let kind = match kind.trim() {
                "holiday" => DayKind::Holiday,
                "workday" => DayKind::Workday,
                other => return Err(bad(format!("unknown kind {other:?}; expected holiday or workday"))),
            };
            // An adjusted working day is by definition a weekend day; a weekday
            // listed as one is a typing error that would silently do nothing.
            if kind == DayKind::Workday && !is_weekend(date) {
                return Err(bad(format!("{date} is a {:?}, so it cannot be an adjusted working day", date.weekday())));
            }
            let name = name.unwrap_or("").trim().to_owned();
            if days.insert(date, SpecialDay { kind, name }).is_some() {
                return Err(bad(format!("{date} is listed twice")));
            }
        }
        let years: BTreeSet<i16> = days.keys().map(|d| d.year()).collect();
        self.special.retain(|d, _| !years.contains(&d.year()));
        self.special.extend(days);
        self.years.extend(years);
        Ok(())
    }

    pub fn with_work_day(mut self, work_day: WorkDay) -> Self {
        self.work_day = work_day;
        self
    }

    pub fn with_offset(mut self, offset: Offset) -> Self {
        self.offset = offset;
        self
    }

    pub fn work_day(&self) -> &WorkDay {
        &self.work_day
    }

    pub fn offset(&self) -> Offset {
        self.offset
    }

    /// True when the holiday arrangement of `year` is loaded.
    pub fn covers(&self, year: i16) -> bool {
        self.years.contains(&year)
    }

    pub fn known_years(&self) -> impl Iterator<Item = i16> + '_ {
        self.years.iter().copied()
    }

    /// The listed day, if `date` is a holiday or an adjusted working day.
    pub fn special_day(&self, date: Date) -> Option<&SpecialDay> {
        self.special.get(&date)
    }

    pub fn is_working_day(&self, date: Date) -> bool {
        match self.special.get(&date) {
            Some(day) => day.kind == DayKind::Workday,
            None => !is_weekend(date),
        }
    }

    /// The deadline `limit` working hours after `start`: only time inside the
    /// working periods of working days counts. A start outside working time
    /// counts from the next working period; a deadline that falls exactly at the
    /// end of a period stays there (12:00, not 14:00). A zero or negative limit
    /// gives `start`.
    pub fn add_working_time(&self, start: Timestamp, limit: SignedDuration) -> Timestamp {
        let mut remaining = limit.as_nanos();
        if remaining <= 0 {
            return start;
        }
        let start_ns = start.as_nanosecond();
        let mut date = self.offset.to_datetime(start).date();
        loop {
            let Some(midnight) = self.midnight(date) else { return Timestamp::MAX };
            if self.is_working_day(date) {
                for (s, e) in self.work_day.nanos() {
                    let from = (midnight + s).max(start_ns);
                    let to = midnight + e;
                    if from >= to {
                        continue;
                    }
                    if remaining <= to - from {
                        return Timestamp::from_nanosecond(from + remaining).unwrap_or(Timestamp::MAX);
                    }
                    remaining -= to - from;
                }
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => return Timestamp::MAX,
            }
        }
    }

    /// [`Self::add_working_time`] with the limit in (possibly fractional) hours,
    /// as the catalogue writes them.
    pub fn add_working_hours(&self, start: Timestamp, hours: f64) -> Timestamp {
        let limit = SignedDuration::try_from_secs_f64(hours * 3600.0).unwrap_or(SignedDuration::ZERO);
        self.add_working_time(start, limit)
    }

    /// Working time from `a` to `b`; negative when `b` is before `a`.
    pub fn working_time_between(&self, a: Timestamp, b: Timestamp) -> SignedDuration {
        if b < a {
            return -self.working_time_between(b, a);
        }
        let (a_ns, b_ns) = (a.as_nanosecond(), b.as_nanosecond());
        let mut total: i128 = 0;
        let mut date = self.offset.to_datetime(a).date();
        let last = self.offset.to_datetime(b).date();
        while date <= last {
            let Some(midnight) = self.midnight(date) else { break };
            if self.is_working_day(date) {
                for (s, e) in self.work_day.nanos() {
                    let from = (midnight + s).max(a_ns);
                    let to = (midnight + e).min(b_ns);
                    total += (to - from).max(0);
                }
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        SignedDuration::from_nanos_i128(total)
    }

    /// Whole working seconds from `a` to `b` (rounded towards zero).
    pub fn working_seconds_between(&self, a: Timestamp, b: Timestamp) -> i64 {
        self.working_time_between(a, b).as_secs()
    }

    /// The instant local midnight begins `date`, in nanoseconds since the epoch.
    fn midnight(&self, date: Date) -> Option<i128> {
        let ts = self.offset.to_timestamp(date.to_datetime(Time::midnight())).ok()?;
        Some(ts.as_nanosecond())
    }
}

impl Default for WorkCalendar {
    fn default() -> Self {
        Self::china()
    }
}

fn is_weekend(date: Date) -> bool {
    matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `YYYY-MM-DDTHH:MM` in China Standard Time.
    fn cst(s: &str) -> Timestamp {
        format!("{s}:00+08:00").parse().expect("test timestamp")
    }

    fn day(s: &str) -> Date {
        s.parse().expect("test date")
    }

    #[test]
    fn the_embedded_files_parse_and_cover_2025_to_2027() {
        let mut cal = WorkCalendar::parse(CHINA_CSV).expect("embedded calendar parses");
        cal.load(CHINA_2027_CSV).expect("the provisional 2027 parses");
        assert_eq!(cal, WorkCalendar::china());
        assert_eq!(cal.known_years().collect::<Vec<_>>(), vec![2025, 2026, 2027]);
        assert!(!cal.covers(2028));
        // 13 statutory days a year since the 2024 revision.
        assert_eq!(CHINA_2027_CSV.lines().filter(|l| l.starts_with("2027-")).count(), 13);
        assert_eq!(
            cal.special_day(day("2025-10-06")).map(|d| d.name.as_str()),
            Some("国庆节、中秋节 National Day and Mid-Autumn")
        );
    }

    #[test]
    fn working_days_follow_the_state_council_arrangement() {
        let cal = WorkCalendar::china();
        let table: &[(&str, bool, &str)] = &[
            ("2025-09-26", true, "an ordinary Friday"),
            ("2025-09-27", false, "an ordinary Saturday"),
            ("2025-09-28", true, "Sunday worked before National Day"),
            ("2025-10-01", false, "National Day"),
            ("2025-10-03", false, "National Day holiday, a Friday"),
            ("2025-10-08", false, "last day of the National Day holiday, a Wednesday"),
            ("2025-10-09", true, "first working day after National Day"),
            ("2025-10-11", true, "Saturday worked after National Day"),
            ("2025-10-12", false, "an ordinary Sunday"),
            ("2026-01-02", false, "New Year holiday, a Friday"),
            ("2026-01-04", true, "Sunday worked after New Year"),
            ("2026-02-14", true, "Saturday worked before Spring Festival"),
            ("2026-02-16", false, "New Year's Eve, a Monday"),
            ("2026-02-23", false, "last Spring Festival rest day, a Monday"),
            ("2026-02-24", true, "back to work after Spring Festival"),
            ("2026-02-28", true, "Saturday worked after Spring Festival"),
            ("2027-01-01", false, "provisional 2027: New Year's Day, a Friday"),
            ("2027-02-05", false, "provisional 2027: New Year's Eve, a Friday"),
            ("2027-02-08", false, "provisional 2027: the third day of Spring Festival, a Monday"),
            ("2027-02-09", true, "provisional 2027: no make-up day until the notice"),
            ("2027-06-09", false, "provisional 2027: Dragon Boat, a Wednesday"),
            ("2028-01-03", true, "2028 is not loaded: a Monday is worked"),
            ("2028-01-01", false, "2028 is not loaded: Saturdays still rest"),
        ];
        for &(d, working, why) in table {
            assert_eq!(cal.is_working_day(day(d)), working, "{d}: {why}");
        }
        for d in 1..=8 {
            assert!(!cal.is_working_day(day(&format!("2025-10-{d:02}"))), "2025-10-{d:02}");
        }
    }

    #[test]
    fn deadlines_skip_nights_lunch_weekends_and_holidays() {
        let cal = WorkCalendar::china();
        let table: &[(&str, f64, &str, &str)] = &[
            // 1.5 h left on the Tuesday, 1-8 October off, 2.5 h from 08:30 on the 9th.
            ("2025-09-30T16:00", 4.0, "2025-10-09T11:00", "across the National Day holiday"),
            ("2025-09-30T16:00", 8.0, "2025-10-09T17:00", "a whole day across National Day"),
            ("2025-09-30T17:30", 0.5, "2025-10-09T09:00", "start at closing time"),
            // Friday evening: Saturday rests, the adjusted Sunday works.
            ("2025-09-26T18:00", 4.0, "2025-09-28T14:30", "Friday evening before National Day"),
            ("2025-09-29T12:30", 1.0, "2025-09-29T15:00", "start in the lunch break"),
            ("2025-09-29T08:30", 3.5, "2025-09-29T12:00", "a deadline at the end of a period stays there"),
            ("2025-09-29T10:00", 0.0, "2025-09-29T10:00", "a zero limit is the start"),
            ("2025-12-31T17:00", 1.0, "2026-01-04T09:00", "across New Year into the adjusted Sunday"),
            ("2026-02-13T17:00", 2.0, "2026-02-14T10:00", "Friday into the adjusted Saturday"),
            ("2026-02-14T17:00", 1.0, "2026-02-24T09:00", "across Spring Festival"),
            ("2026-12-31T17:00", 1.0, "2027-01-04T09:00", "across New Year 2027 and its weekend"),
            ("2027-12-31T17:00", 1.0, "2028-01-03T09:00", "2028 unloaded: the weekend still rests"),
        ];
        for &(start, hours, want, why) in table {
            let got = cal.add_working_hours(cst(start), hours);
            assert_eq!(got, cst(want), "{start} + {hours} h: {why}");
            if hours > 0.0 {
                let secs = (hours * 3600.0) as i64;
                assert_eq!(cal.working_seconds_between(cst(start), got), secs, "round trip of {why}");
            }
        }
    }

    #[test]
    fn working_time_between_counts_only_working_periods() {
        let cal = WorkCalendar::china();
        let h = |a: &str, b: &str| cal.working_seconds_between(cst(a), cst(b)) as f64 / 3600.0;
        assert_eq!(h("2025-09-29T00:00", "2025-09-30T00:00"), 7.0);
        assert_eq!(h("2025-10-01T00:00", "2025-10-09T00:00"), 0.0);
        assert_eq!(h("2025-09-29T11:00", "2025-09-29T15:00"), 2.0);
        // A week around National Day: 28 Sep, 29 Sep, 30 Sep worked, then nothing to the 9th.
        assert_eq!(h("2025-09-27T00:00", "2025-10-09T00:00"), 21.0);
        assert_eq!(h("2025-09-29T15:00", "2025-09-29T11:00"), -2.0);
    }

    #[test]
    fn an_administrator_loads_the_next_year() {
        let mut cal = WorkCalendar::china();
        // The notice for 2027 replaces the provisional statutory days.
        cal.load("date,kind,name\n2027-01-01,holiday,元旦 New Year\n2027-02-20,workday,春节 Spring Festival\n")
            .expect("valid");
        assert!(cal.covers(2027));
        assert!(!cal.is_working_day(day("2027-01-01")));
        assert!(cal.is_working_day(day("2027-02-20")), "an adjusted Saturday of the notice");
        assert!(cal.is_working_day(day("2027-02-08")), "the provisional lines are gone");
        assert!(cal.is_working_day(day("2025-09-28")), "other years are kept");
    }

    #[test]
    fn bad_calendar_lines_are_refused_with_their_line_number() {
        let table: &[(&str, &str)] = &[
            ("2025-13-01,holiday,x", "bad date"),
            ("2025-10-01,rest,x", "unknown kind"),
            ("2025-09-29,workday,x", "cannot be an adjusted working day"),
            ("2025-10-01,holiday,x\n2025-10-01,holiday,y", "listed twice"),
        ];
        for &(csv, want) in table {
            let e = WorkCalendar::parse(csv).expect_err(csv).to_string();
            assert!(e.contains(want) && e.contains("line"), "{csv}: {e}");
        }
        assert_eq!(WorkDay::new(vec![]), Err(CalendarError::NoPeriods));
        let t = |h| Time::constant(h, 0, 0, 0);
        assert!(WorkDay::new(vec![(t(9), t(12)), (t(11), t(17))]).is_err());
        assert!(WorkDay::new(vec![(t(12), t(9))]).is_err());
        assert_eq!(WorkDay::standard().length(), SignedDuration::from_hours(7));
    }

    #[test]
    fn a_custom_working_day_changes_the_deadlines() {
        let t = |h| Time::constant(h, 0, 0, 0);
        let cal = WorkCalendar::china().with_work_day(WorkDay::new(vec![(t(9), t(17))]).expect("valid"));
        assert_eq!(cal.add_working_hours(cst("2025-09-29T16:00"), 2.0), cst("2025-09-30T10:00"));
    }
}
