//! How OpenStreetMap tags map onto the facility catalogue: one table, read top to bottom; the first row whose tags an element carries names its category.
//!
//! | OpenStreetMap tags | category |
//! |---|---|
//! | `amenity` = clinic, doctors, hospital; `healthcare` = clinic, doctor, hospital, centre | clinic |
//! | `amenity` = pharmacy; `healthcare` = pharmacy | pharmacy |
//! | `amenity` = school | school |
//! | `amenity` = kindergarten, childcare | kindergarten |
//! | `amenity` = nursing_home; `social_facility` = nursing_home, assisted_living; `amenity` = social_facility with `social_facility:for` = senior | elderly_care |
//! | `amenity` = marketplace | market |
//! | `shop` = supermarket | supermarket |
//! | `highway` = bus_stop; `amenity` = bus_station; `public_transport` = platform with `bus`, `trolleybus` or `tram` = yes | bus_stop |
//! | `amenity` = townhall; `office` = government | gov_service_station |
//! | `amenity` = community_centre, social_centre | community_centre |
//! | `amenity` = police | police_post |
//! | `leisure` = park | park |
//! | `leisure` = sports_centre, sports_hall, stadium, pitch, track, fitness_station | sports_ground |
//!
//! No tag means a Party service station (党群服务站): those exist only as
//! registered in CivicGrid. The catalogue has one category for transit
//! stops, so tram platforms count as stops too.

use crate::FacilityCategory;
use FacilityCategory::*;

/// One row of the table: `key=value`, and when `also` is set, that tag as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsmFacilityTag {
    pub key: &'static str,
    pub value: &'static str,
    pub also: Option<(&'static str, &'static str)>,
    pub category: FacilityCategory,
}

const fn tag(key: &'static str, value: &'static str, category: FacilityCategory) -> OsmFacilityTag {
    OsmFacilityTag { key, value, also: None, category }
}

const fn tag_with(
    key: &'static str,
    value: &'static str,
    also: (&'static str, &'static str),
    category: FacilityCategory,
) -> OsmFacilityTag {
    OsmFacilityTag { key, value, also: Some(also), category }
}

/// The mapping, in the order it is tried.
pub const OSM_FACILITY_TAGS: &[OsmFacilityTag] = &[
    tag("amenity", "clinic", Clinic),
    tag("amenity", "doctors", Clinic),
    tag("amenity", "hospital", Clinic),
    tag("healthcare", "clinic", Clinic),
    tag("healthcare", "doctor", Clinic),
    tag("healthcare", "hospital", Clinic),
    tag("healthcare", "centre", Clinic),
    tag("amenity", "pharmacy", Pharmacy),
    tag("healthcare", "pharmacy", Pharmacy),
    tag("amenity", "school", School),
    tag("amenity", "kindergarten", Kindergarten),
    tag("amenity", "childcare", Kindergarten),
    tag("amenity", "nursing_home", ElderlyCare),
    tag("social_facility", "nursing_home", ElderlyCare),
    tag("social_facility", "assisted_living", ElderlyCare),
    tag_with("amenity", "social_facility", ("social_facility:for", "senior"), ElderlyCare),
    tag("amenity", "marketplace", Market),
    tag("shop", "supermarket", Supermarket),
    tag("highway", "bus_stop", BusStop),
    tag("amenity", "bus_station", BusStop),
    tag_with("public_transport", "platform", ("bus", "yes"), BusStop),
    tag_with("public_transport", "platform", ("trolleybus", "yes"), BusStop),
    tag_with("public_transport", "platform", ("tram", "yes"), BusStop),
    tag("amenity", "townhall", GovServiceStation),
    tag("office", "government", GovServiceStation),
    tag("amenity", "community_centre", CommunityCentre),
    tag("amenity", "social_centre", CommunityCentre),
    tag("amenity", "police", PolicePost),
    tag("leisure", "park", Park),
    tag("leisure", "sports_centre", SportsGround),
    tag("leisure", "sports_hall", SportsGround),
    tag("leisure", "stadium", SportsGround),
    tag("leisure", "pitch", SportsGround),
    tag("leisure", "track", SportsGround),
    tag("leisure", "fitness_station", SportsGround),
];

/// The category of an element whose tags `get` looks up, or `None` when
/// no row of [`OSM_FACILITY_TAGS`] matches.
pub fn category_from_osm<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Option<FacilityCategory> {
    OSM_FACILITY_TAGS
        .iter()
        .find(|row| get(row.key) == Some(row.value) && row.also.is_none_or(|(k, v)| get(k) == Some(v)))
        .map(|row| row.category)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Tags = &'static [(&'static str, &'static str)];

    fn category(tags: Tags) -> Option<FacilityCategory> {
        category_from_osm(|k| tags.iter().find(|(key, _)| *key == k).map(|(_, v)| *v))
    }

    #[test]
    fn tags_map_onto_the_catalogue() {
        let cases: &[(Tags, Option<FacilityCategory>)] = &[
            (&[("amenity", "doctors")], Some(Clinic)),
            (&[("healthcare", "centre")], Some(Clinic)),
            (&[("amenity", "pharmacy"), ("healthcare", "pharmacy")], Some(Pharmacy)),
            (&[("amenity", "school")], Some(School)),
            (&[("amenity", "kindergarten")], Some(Kindergarten)),
            (&[("amenity", "social_facility"), ("social_facility:for", "senior")], Some(ElderlyCare)),
            (&[("amenity", "social_facility"), ("social_facility:for", "homeless")], None),
            (&[("amenity", "marketplace")], Some(Market)),
            (&[("shop", "supermarket"), ("name", "K-Market")], Some(Supermarket)),
            (&[("shop", "convenience")], None),
            (&[("highway", "bus_stop"), ("public_transport", "platform")], Some(BusStop)),
            (&[("public_transport", "platform"), ("tram", "yes")], Some(BusStop)),
            (&[("public_transport", "platform"), ("train", "yes")], None),
            (&[("amenity", "townhall")], Some(GovServiceStation)),
            (&[("amenity", "community_centre")], Some(CommunityCentre)),
            (&[("amenity", "police")], Some(PolicePost)),
            (&[("leisure", "park")], Some(Park)),
            (&[("leisure", "pitch"), ("sport", "soccer")], Some(SportsGround)),
            (&[("amenity", "cafe")], None),
            (&[], None),
        ];
        for (tags, want) in cases {
            assert_eq!(category(tags), *want, "{tags:?}");
        }
    }

    #[test]
    fn every_category_but_the_party_station_has_a_tag() {
        for c in FacilityCategory::ALL {
            let tagged = OSM_FACILITY_TAGS.iter().any(|row| row.category == *c);
            assert_eq!(tagged, *c != PartyServiceStation, "{c}");
        }
    }
}
