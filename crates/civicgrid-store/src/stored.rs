//! How values look in a row on every backend, and the row → record mappings
//! both backends share. Timestamps are fixed-width RFC 3339 text, dates ISO
//! text, JSON canonical text; [`Columns`] reads a SQLite or a PostgreSQL row
//! alike, so each record is mapped from a row in one place.

use crate::cases::{CaseEventRecord, CaseRecord, CaseSummary};
use crate::view::{CameraView, FacilityView};
use crate::{KeyRing, ResidentView, Result, StoreError, TokenRecord, UserRecord};
use civicgrid_domain::{CareGroup, Grant, IdNumber, OrgUnit, PhoneNumber, Ring, UnitCode, Validity};
use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::Row;
use std::str::FromStr;

/// Now, as the store writes timestamps: fixed width, so text order is time order.
pub(crate) fn now_text() -> String {
    ts_text(Timestamp::now())
}

/// A timestamp as stored: UTC with six fractional digits.
pub(crate) fn ts_text(t: Timestamp) -> String {
    format!("{t:.6}")
}

pub(crate) fn parse_ts(s: &str) -> Result<Timestamp> {
    s.parse().map_err(|e| StoreError::Corrupt(format!("bad timestamp {s:?}: {e}")))
}

pub(crate) fn parse_date(s: &str) -> Result<Date> {
    s.parse().map_err(|e| StoreError::Corrupt(format!("bad date {s:?}: {e}")))
}

pub(crate) fn parse_code(s: &str) -> Result<UnitCode> {
    UnitCode::parse(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn parse_enum<T: FromStr<Err = String>>(s: &str) -> Result<T> {
    s.parse().map_err(StoreError::Corrupt)
}

/// A result row read by column name, whichever database returned it. The
/// schemas keep every integer a 64-bit one, every real a double, and flags
/// booleans (integers on SQLite), so one set of accessors reads both.
pub(crate) trait Columns {
    fn text(&self, col: &str) -> Result<String>;
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
    fn int(&self, col: &str) -> Result<i64>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>>;
    fn real(&self, col: &str) -> Result<f64>;
    fn opt_real(&self, col: &str) -> Result<Option<f64>>;
    fn flag(&self, col: &str) -> Result<bool>;
    fn opt_flag(&self, col: &str) -> Result<Option<bool>>;
    fn bytes(&self, col: &str) -> Result<Vec<u8>>;
    fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>>;

    fn ts(&self, col: &str) -> Result<Timestamp> {
        parse_ts(&self.text(col)?)
    }

    fn opt_ts(&self, col: &str) -> Result<Option<Timestamp>> {
        self.opt_text(col)?.as_deref().map(parse_ts).transpose()
    }
}

macro_rules! columns_of {
    ($row:ty) => {
        impl Columns for $row {
            fn text(&self, col: &str) -> Result<String> {
                Ok(self.try_get(col)?)
            }
            fn opt_text(&self, col: &str) -> Result<Option<String>> {
                Ok(self.try_get(col)?)
            }
            fn int(&self, col: &str) -> Result<i64> {
                Ok(self.try_get(col)?)
            }
            fn opt_int(&self, col: &str) -> Result<Option<i64>> {
                Ok(self.try_get(col)?)
            }
            fn real(&self, col: &str) -> Result<f64> {
                Ok(self.try_get(col)?)
            }
            fn opt_real(&self, col: &str) -> Result<Option<f64>> {
                Ok(self.try_get(col)?)
            }
            fn flag(&self, col: &str) -> Result<bool> {
                Ok(self.try_get(col)?)
            }
            fn opt_flag(&self, col: &str) -> Result<Option<bool>> {
                Ok(self.try_get(col)?)
            }
            fn bytes(&self, col: &str) -> Result<Vec<u8>> {
                Ok(self.try_get(col)?)
            }
            fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>> {
                Ok(self.try_get(col)?)
            }
        }
    };
}

columns_of!(sqlx::sqlite::SqliteRow);
columns_of!(sqlx::postgres::PgRow);

pub(crate) fn unit_from_row(row: &impl Columns) -> Result<OrgUnit> {
    let boundary = row
        .opt_text("boundary")?
        .map(|b| serde_json::from_str::<Ring>(&b))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("bad boundary: {e}")))?;
    Ok(OrgUnit {
        code: parse_code(&row.text("code")?)?,
        name: row.text("name")?,
        validity: Validity {
            from: parse_date(&row.text("valid_from")?)?,
            to: row.opt_text("valid_to")?.as_deref().map(parse_date).transpose()?,
        },
        boundary,
    })
}

pub(crate) fn facility_from_row(r: &impl Columns) -> Result<FacilityView> {
    Ok(FacilityView {
        code: r.text("code")?,
        category: parse_enum(&r.text("category")?)?,
        name: r.text("name")?,
        address: r.text("address")?,
        grid: r.text("grid_code")?,
        lat: r.real("lat")?,
        lon: r.real("lon")?,
    })
}

pub(crate) fn camera_from_row(r: &impl Columns) -> Result<CameraView> {
    Ok(CameraView {
        code: r.text("code")?,
        name: r.text("name")?,
        status: parse_enum(&r.text("status")?)?,
        installed_on: r.text("installed_on")?,
        grid: r.text("grid_code")?,
        lat: r.real("lat")?,
        lon: r.real("lon")?,
    })
}

pub(crate) fn user_from_row(r: &impl Columns, grants: Vec<Grant>) -> Result<UserRecord> {
    let failed = r.int("failed_logins")?;
    Ok(UserRecord {
        id: r.int("id")?,
        username: r.text("username")?,
        display_name: r.text("display_name")?,
        password_hash: r.text("password_hash")?,
        grants,
        failed_logins: u32::try_from(failed).unwrap_or(u32::MAX),
        locked_until: r.opt_ts("locked_until")?,
        disabled: r.flag("disabled")?,
        created_at: r.ts("created_at")?,
    })
}

/// A user with the grants listed in column `grant_list` as `role:scope,…`:
/// one query tells who holds a token or a session.
pub(crate) fn holder_from_row(r: &impl Columns) -> Result<UserRecord> {
    let list = r.opt_text("grant_list")?;
    let mut grants = list
        .as_deref()
        .unwrap_or("")
        .split(',')
        .filter(|g| !g.is_empty())
        .map(|g| {
            let (role, scope) = g.split_once(':').ok_or_else(|| StoreError::Corrupt(format!("grant {g:?}")))?;
            Ok(Grant { role: parse_enum(role)?, scope: parse_code(scope)? })
        })
        .collect::<Result<Vec<_>>>()?;
    grants.sort_by(|a, b| (a.scope.as_str(), a.role).cmp(&(b.scope.as_str(), b.role)));
    user_from_row(r, grants)
}

pub(crate) fn grant_from_row(r: &impl Columns) -> Result<Grant> {
    Ok(Grant { role: parse_enum(&r.text("role")?)?, scope: parse_code(&r.text("scope_code")?)? })
}

/// A token's columns, named `{prefix}id`, `{prefix}name` …
pub(crate) fn token_from_row(r: &impl Columns, prefix: &str, user_id: Option<i64>) -> Result<TokenRecord> {
    let col = |c: &str| format!("{prefix}{c}");
    Ok(TokenRecord {
        id: r.int(&col("id"))?,
        user_id: match user_id {
            Some(id) => id,
            None => r.int("user_id")?,
        },
        name: r.text(&col("name"))?,
        created_at: r.ts(&col("created_at"))?,
        expires_at: r.opt_ts(&col("expires_at"))?,
        last_used_at: r.opt_ts(&col("last_used_at"))?,
        revoked_at: r.opt_ts(&col("revoked_at"))?,
    })
}

pub(crate) fn case_from_row(r: &impl Columns) -> Result<CaseRecord> {
    let category = r.text("category")?;
    Ok(CaseRecord {
        id: r.int("id")?,
        number: r.text("number")?,
        source: r.text("source")?,
        category: category.clone(),
        title: r.text("title")?,
        description: r.text("description")?,
        lat: r.real("lat")?,
        lon: r.real("lon")?,
        grid: r.text("grid_code")?,
        reporter_id: r.opt_int("reporter_id")?,
        summary: CaseSummary {
            state: r.text("state")?,
            category: Some(category).filter(|c| !c.is_empty()),
            handler_unit: r.opt_text("handler_unit")?,
            step_deadline: r.opt_ts("step_deadline")?,
            escalate_at: r.opt_ts("escalate_at")?,
            escalation: r.opt_text("escalation")?,
            supervision: r.flag("supervision")?,
            duplicate_of: r.opt_int("duplicate_of")?,
            merged_into: r.opt_int("merged_into")?,
            closed_at: r.opt_ts("closed_at")?,
        },
        events: r.int("events")?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
    })
}

/// Rows of [`crate::schema::histories_query`] as one history per case.
pub(crate) fn group_histories(rows: &[impl Columns]) -> Result<Vec<(i64, Vec<CaseEventRecord>)>> {
    let mut out: Vec<(i64, Vec<CaseEventRecord>)> = Vec::new();
    for r in rows {
        let case_id = r.int("case_id")?;
        let event = event_from_row(r)?;
        match out.last_mut() {
            Some((id, h)) if *id == case_id => h.push(event),
            _ => out.push((case_id, vec![event])),
        }
    }
    Ok(out)
}

pub(crate) fn event_from_row(r: &impl Columns) -> Result<CaseEventRecord> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("case event: {e}"));
    Ok(CaseEventRecord {
        seq: r.int("seq")?,
        at: r.ts("at")?,
        actor_id: r.opt_int("actor_id")?,
        actor: r.text("actor")?,
        role: r.text("role")?,
        unit: r.text("unit")?,
        kind: r.text("kind")?,
        data: serde_json::from_str(&r.text("data")?).map_err(corrupt)?,
        note: r.text("note")?,
        photos: serde_json::from_str(&r.text("photos")?).map_err(corrupt)?,
        lat: r.opt_real("lat")?,
        lon: r.opt_real("lon")?,
    })
}

/// A number as stored: its ciphertext and its blind index.
pub(crate) type SealedNumber = (Vec<u8>, String);

/// The encrypted number and its blind index, as stored.
pub(crate) fn seal(keys: &KeyRing, plain: &str) -> SealedNumber {
    (keys.encrypt(plain), keys.blind_index(plain))
}

pub(crate) fn open_id(keys: &KeyRing, blob: &[u8]) -> Result<IdNumber> {
    IdNumber::parse(&keys.decrypt(blob)?).map_err(|e| StoreError::Corrupt(format!("stored ID number: {e}")))
}

pub(crate) fn open_phone(keys: &KeyRing, blob: Option<Vec<u8>>) -> Result<Option<PhoneNumber>> {
    blob.map(|b| PhoneNumber::parse(&keys.decrypt(&b)?).map_err(|e| StoreError::Corrupt(format!("stored phone: {e}"))))
        .transpose()
}

/// Residents with where they live, ready to be filtered with `AND …`; the
/// same text on both backends.
pub(crate) const RESIDENT_SELECT: &str = "SELECT r.id, r.name, r.gender, r.birth_date, r.grid_code, \
     r.head_of_household, r.care_groups, r.id_number_enc, r.phone_enc, c.name AS compound, b.number AS building, \
     h.entrance, h.room \
     FROM residents r JOIN households h ON h.id = r.household_id JOIN buildings b ON b.id = h.building_id \
     JOIN compounds c ON c.code = b.compound_code WHERE 1 = 1";

pub(crate) fn resident_from_row(keys: &KeyRing, r: &impl Columns) -> Result<ResidentView> {
    let birth = r.text("birth_date")?;
    let birth_year = birth
        .get(..4)
        .and_then(|y| y.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("bad birth date {birth:?}")))?;
    let care = r.text("care_groups")?;
    let care = care.split(',').filter(|c| !c.is_empty()).map(parse_enum::<CareGroup>).collect::<Result<_>>()?;
    let num = |col: &str| -> Result<u16> {
        let n = r.int(col)?;
        u16::try_from(n).map_err(|_| StoreError::Corrupt(format!("{col} {n} out of range")))
    };
    Ok(ResidentView {
        id: r.int("id")?,
        name: r.text("name")?,
        gender: parse_enum(&r.text("gender")?)?,
        birth_year,
        grid: r.text("grid_code")?,
        compound: r.text("compound")?,
        building: num("building")?,
        entrance: u8::try_from(num("entrance")?).map_err(|_| StoreError::Corrupt("entrance out of range".into()))?,
        room: num("room")?,
        head_of_household: r.flag("head_of_household")?,
        care,
        id_number: open_id(keys, &r.bytes("id_number_enc")?)?.masked(),
        phone: open_phone(keys, r.opt_bytes("phone_enc")?)?.map(|p| p.masked()),
    })
}
