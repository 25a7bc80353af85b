//! People in their roles: grid workers, street riders, registered Party
//! members, community staff and leaders; and residents' special-care groups.

use crate::code::UnitCode;
use crate::facility::string_enum;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

string_enum! {
    /// A role a person holds at a unit. The unit's level says how far it reaches.
    RoleKind {
        GridWorker = "grid_worker",
        StreetRider = "street_rider",
        PartyMember = "party_member",
        CommunityStaff = "community_staff",
        StreetStaff = "street_staff",
        Leader = "leader",
        Volunteer = "volunteer",
    }
}

string_enum! {
    Gender {
        Male = "male",
        Female = "female",
    }
}

string_enum! {
    /// Groups that a community keeps a closer eye on (重点关爱人群).
    CareGroup {
        ElderlyAlone = "elderly_alone",
        Disabled = "disabled",
        LowIncome = "low_income",
        LeftBehindChild = "left_behind_child",
        Veteran = "veteran",
    }
}

/// "Person P is a grid worker of grid G since D."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonRole {
    pub kind: RoleKind,
    pub unit: UnitCode,
    pub since: Date,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_codes_round_trip() {
        for r in RoleKind::ALL {
            assert_eq!(RoleKind::from_str(r.as_str()), Ok(*r));
        }
        assert!(RoleKind::from_str("mayor").is_err());
    }
}
