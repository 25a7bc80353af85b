//! The catalogue of facility categories a 15-minute service circle is made of,
//! and the states of a public-security camera.

use serde::{Deserialize, Serialize};
use std::str::FromStr;

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $name::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let all: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    format!("unknown {} {s:?}; expected one of: {}", stringify!($name), all.join(", "))
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
    };
}
pub(crate) use string_enum;

string_enum! {
    /// What a facility is for. Codes are stable; names live in the message catalogues.
    FacilityCategory {
        Clinic = "clinic",
        Pharmacy = "pharmacy",
        School = "school",
        Kindergarten = "kindergarten",
        ElderlyCare = "elderly_care",
        Market = "market",
        Supermarket = "supermarket",
        BusStop = "bus_stop",
        GovServiceStation = "gov_service_station",
        PartyServiceStation = "party_service_station",
        CommunityCentre = "community_centre",
        PolicePost = "police_post",
        Park = "park",
        SportsGround = "sports_ground",
    }
}

string_enum! {
    /// The state of a camera (综治探头) as last reported.
    CameraStatus {
        Online = "online",
        Offline = "offline",
        Fault = "fault",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_round_trip_and_unknown_ones_are_named() {
        for c in FacilityCategory::ALL {
            assert_eq!(c.as_str().parse::<FacilityCategory>(), Ok(*c));
        }
        let e = "spa".parse::<FacilityCategory>().expect_err("unknown");
        assert!(e.contains("clinic") && e.contains("spa"), "{e}");
        assert_eq!("fault".parse::<CameraStatus>(), Ok(CameraStatus::Fault));
    }
}
