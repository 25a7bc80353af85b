//! Identity numbers: the 18-character resident ID of GB 11643 with its ISO 7064
//! MOD 11-2 check character, and mainland mobile phone numbers.

use jiff::civil::Date;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("an ID number has 18 characters: 17 digits and a check digit or X")]
    IdFormat,
    #[error("the ID number's birth date {0} is not a real date")]
    IdBirthDate(String),
    #[error("the ID number's check character is {found}, expected {expected}")]
    IdCheck { expected: char, found: char },
    #[error("a mobile number has 11 digits and starts with 1")]
    Phone,
}

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// A resident ID number (公民身份号码), GB 11643-1999.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdNumber(String);

impl IdNumber {
    /// The check character of the first 17 digits.
    pub fn check_char(first17: &str) -> Option<char> {
        if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let sum: u32 = first17.bytes().zip(WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
        Some(CHECK[(sum % 11) as usize])
    }

    /// Builds a valid ID number from an area code, a birth date and a 3-digit
    /// sequence (odd for men, even for women), computing the check character.
    pub fn compose(area: &str, birth: Date, sequence: u16) -> Result<Self, IdentityError> {
        let first17 = format!("{area}{:04}{:02}{:02}{:03}", birth.year(), birth.month(), birth.day(), sequence % 1000);
        let check = Self::check_char(&first17).ok_or(IdentityError::IdFormat)?;
        Ok(IdNumber(format!("{first17}{check}")))
    }

    pub fn parse(s: &str) -> Result<Self, IdentityError> {
        let s = s.trim().to_ascii_uppercase();
        if s.len() != 18 {
            return Err(IdentityError::IdFormat);
        }
        let (first17, last) = s.split_at(17);
        let expected = Self::check_char(first17).ok_or(IdentityError::IdFormat)?;
        let found = last.chars().next().ok_or(IdentityError::IdFormat)?;
        if !(found.is_ascii_digit() || found == 'X') {
            return Err(IdentityError::IdFormat);
        }
        let birth = &first17[6..14];
        let date = (|| {
            let y: i16 = birth[0..4].parse().ok()?;
            let m: i8 = birth[4..6].parse().ok()?;
            let d: i8 = birth[6..8].parse().ok()?;
            Date::new(y, m, d).ok()
        })();
        if date.is_none() {
            return Err(IdentityError::IdBirthDate(birth.to_owned()));
        }
        if found != expected {
            return Err(IdentityError::IdCheck { expected, found });
        }
        Ok(IdNumber(s))
    }

    pub fn birth_date(&self) -> Option<Date> {
        let b = &self.0[6..14];
        Date::new(b[0..4].parse().ok()?, b[4..6].parse().ok()?, b[6..8].parse().ok()?).ok()
    }

    /// Odd sequence digit (the 17th character) is male.
    pub fn is_male(&self) -> bool {
        self.0.as_bytes()[16] % 2 == 1
    }

    /// The number with the birth date and sequence hidden: `610304********123X`
    /// keeps the area code and the last four characters.
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.0[..6], &self.0[14..])
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IdNumber {
    // Personal data never reaches a log in full, not even through Debug.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

/// A mainland mobile number (11 digits starting with 1).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(s: &str) -> Result<Self, IdentityError> {
        let digits: String = s.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let digits = digits.strip_prefix("+86").unwrap_or(&digits).to_owned();
        if digits.len() != 11 || !digits.starts_with('1') || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdentityError::Phone);
        }
        Ok(PhoneNumber(digits))
    }

    /// `138****5678`.
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_example_number_checks_out() {
        // The worked example of GB 11643-1999, annex: 11010519491231002X.
        let id = IdNumber::parse("11010519491231002x").expect("standard example is valid");
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(id.birth_date(), Some(jiff::civil::date(1949, 12, 31)));
        assert!(!id.is_male());
        assert_eq!(id.masked(), "110105********002X");
        // Its sibling in the same annex: 440524188001010014.
        assert!(IdNumber::parse("440524188001010014").is_ok());
    }

    #[test]
    fn bad_id_numbers_are_refused_with_a_reason() {
        assert_eq!(IdNumber::parse("11010519491231002"), Err(IdentityError::IdFormat));
        assert_eq!(IdNumber::parse("110105194912310021"), Err(IdentityError::IdCheck { expected: 'X', found: '1' }));
        assert!(matches!(IdNumber::parse("110105194902300020"), Err(IdentityError::IdBirthDate(_))));
        assert_eq!(IdNumber::parse("11010519491231002Y"), Err(IdentityError::IdFormat));
    }

    #[test]
    fn composed_numbers_are_valid() {
        for seq in [1u16, 2, 999, 900] {
            let id = IdNumber::compose("610304", jiff::civil::date(1950, 2, 28), seq).expect("compose");
            assert_eq!(IdNumber::parse(id.as_str()).expect("round trip"), id);
            assert_eq!(id.is_male(), seq % 2 == 1);
        }
    }

    #[test]
    fn phones_parse_and_mask() {
        let p = PhoneNumber::parse("+86 138-1234-5678").expect("valid");
        assert_eq!(p.as_str(), "13812345678");
        assert_eq!(p.masked(), "138****5678");
        assert_eq!(format!("{p:?}"), "PhoneNumber(138****5678)");
        for bad in ["2381234567", "1381234567", "138123456789", "1381234567a"] {
            assert_eq!(PhoneNumber::parse(bad), Err(IdentityError::Phone), "{bad}");
        }
    }
}
