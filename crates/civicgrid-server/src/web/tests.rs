//! Checks that keep the pages translatable: the catalogues agree, templates
//! hold no human text of their own, and every message they name exists.

use super::i18n::{Lang, catalogue};
use super::render::{TEMPLATES, environment};
use civicgrid_domain::case::{Action, CaseState, RequestKind, Source};
use civicgrid_domain::{
    CallKind, CallState, CameraStatus, CareGroup, FacilityCategory, Gender, Level, OfferState, Permission, RespondStep,
    Role, RoleKind, Team,
};
use std::collections::BTreeSet;

fn keys(lang: Lang) -> BTreeSet<&'static str> {
    catalogue(lang).keys().map(String::as_str).collect()
}

#[test]
fn both_catalogues_parse_and_have_exactly_the_same_keys() {
    let zh = keys(Lang::ZhCn);
    let en = keys(Lang::En);
    assert!(zh.len() > 100, "the zh-CN catalogue did not load");
    let only_zh: Vec<_> = zh.difference(&en).collect();
    let only_en: Vec<_> = en.difference(&zh).collect();
    assert!(only_zh.is_empty() && only_en.is_empty(), "only in zh-CN: {only_zh:?}; only in en: {only_en:?}");
    for lang in Lang::ALL {
        for (k, v) in catalogue(lang) {
            assert!(!v.trim().is_empty(), "{} has an empty text for {k}", lang.tag());
        }
    }
}

/// Removes `open … close` spans (template syntax, tags, comments).
fn strip(mut s: String, open: &str, close: &str) -> String {
    while let Some(start) = s.find(open) {
        let end = s[start..].find(close).map_or(s.len(), |e| start + e + close.len());
        s.replace_range(start..end, " ");
    }
    s
}

fn is_han(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}' | '\u{3000}'..='\u{303F}' | '\u{FF00}'..='\u{FFEF}')
}

#[test]
fn templates_hold_no_human_text_outside_template_expressions() {
    for (name, source) in TEMPLATES {
        let mut rest = strip((*source).to_owned(), "{#", "#}");
        rest = strip(rest, "{{", "}}");
        rest = strip(rest, "{%", "%}");
        assert!(!rest.chars().any(is_han), "{name} has Chinese text outside {{{{ }}}}");
        // Attribute values people read must come from the catalogue too.
        for attr in ["title=\"", "placeholder=\"", "aria-label=\"", "alt=\""] {
            for (at, _) in rest.match_indices(attr) {
                let value: String = rest[at + attr.len()..].chars().take_while(|c| *c != '"').collect();
                assert!(value.chars().all(|c| !c.is_alphabetic()), "{name}: {attr}{value}\" is hard-coded text");
            }
        }
        let text = strip(strip(rest, "<script", "</script>"), "<", ">");
        let text = strip(text, "&", ";");
        let stray: String = text.chars().filter(|c| c.is_alphabetic()).collect();
        assert!(stray.is_empty(), "{name} has human text outside {{{{ }}}}: {stray:?}");
    }
}

#[test]
fn scripts_hold_no_chinese_text() {
    for (name, source) in super::assets::text_files() {
        assert!(!source.is_empty(), "{name} is not UTF-8");
        assert!(!source.chars().any(is_han), "{name} has Chinese text; use the catalogue");
    }
}

/// The literal keys of `t("…")` / `t('…')` (templates) and `T("…")` (app.js).
fn named_keys(source: &str, call: &str) -> Vec<String> {
    let mut found = Vec::new();
    for quote in ['"', '\''] {
        let needle = format!("{call}({quote}");
        for (at, _) in source.match_indices(&needle) {
            // `t(` must not be the tail of a longer name such as `split(`.
            let before = source[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                continue;
            }
            let key: String = source[at + needle.len()..].chars().take_while(|c| *c != quote).collect();
            // Keys built from data (`"level." ~ unit.level`) are checked below, by their enums.
            let after = &source[at + needle.len() + key.len() + 1..];
            if !after.trim_start().starts_with('~') && !after.trim_start().starts_with('+') {
                found.push(key);
            }
        }
    }
    found
}

/// String literals inside `{{ }}` and `{% %}` that look like message keys
/// (`section.map`): catches keys handed to macros such as `m.th("col.code")`.
fn literal_keys(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (open, close) in [("{{", "}}"), ("{%", "%}")] {
        for (at, _) in source.match_indices(open) {
            let Some(len) = source[at..].find(close) else { continue };
            let expr = &source[at + open.len()..at + len];
            for quote in ['"', '\''] {
                let parts: Vec<&str> = expr.split(quote).collect();
                // Odd positions are inside quotes.
                for (i, lit) in parts.iter().enumerate().skip(1).step_by(2) {
                    let joined = parts.get(i + 1).is_some_and(|after| after.trim_start().starts_with('~'))
                        || parts[i - 1].trim_end().ends_with('~');
                    let keyish = lit.contains('.')
                        && !lit.ends_with('.')
                        && !lit.ends_with(".html")
                        && lit.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
                    if keyish && !joined {
                        found.push((*lit).to_owned());
                    }
                }
            }
        }
    }
    found
}

#[test]
fn every_message_a_template_or_script_names_exists() {
    let known = keys(Lang::ZhCn);
    let mut named = Vec::new();
    for (name, source) in TEMPLATES {
        named.extend(named_keys(source, "t").into_iter().map(|k| (*name, k)));
        named.extend(literal_keys(source).into_iter().map(|k| (*name, k)));
    }
    for (name, source) in super::assets::text_files() {
        named.extend(named_keys(source, "T").into_iter().map(|k| (name, k)));
    }
    assert!(named.len() > 80, "the key scanner found too little: {named:?}");
    assert!(named.iter().any(|(_, k)| k == "col.households"), "keys handed to macros are checked");
    let missing: Vec<_> = named.iter().filter(|(_, k)| !known.contains(k.as_str())).collect();
    assert!(missing.is_empty(), "unknown message keys: {missing:?}");
}

#[test]
fn every_code_shown_by_name_has_a_message() {
    let known = keys(Lang::ZhCn);
    let mut wanted: Vec<String> = Vec::new();
    wanted.extend(FacilityCategory::ALL.iter().map(|c| format!("category.{c}")));
    wanted.extend(CameraStatus::ALL.iter().map(|s| format!("status.{s}")));
    wanted.extend(RoleKind::ALL.iter().map(|r| format!("role.{r}")));
    wanted.extend(Gender::ALL.iter().map(|g| format!("gender.{g}")));
    wanted.extend(CareGroup::ALL.iter().map(|c| format!("care.{c}")));
    wanted.extend(Role::ALL.iter().map(|r| format!("access_role.{r}")));
    wanted.extend(Permission::ALL.iter().map(|p| format!("permission.{p}")));
    wanted.extend(Level::ALL.iter().map(|l| format!("level.{}", l.as_str())));
    wanted.extend(Lang::ALL.iter().map(|l| format!("lang.{}", l.tag())));
    wanted.extend(CaseState::ALL.iter().map(|s| format!("case.state.{s}")));
    wanted.extend(Source::ALL.iter().map(|s| format!("case.source.{s}")));
    wanted.extend(RequestKind::ALL.iter().map(|r| format!("case.request.{r}")));
    wanted.extend(Action::ALL.iter().map(|a| format!("case.event.{a}")));
    wanted.extend(Action::ALL.iter().map(|a| format!("case.action.{a}")));
    wanted.extend(super::nav::NAV.iter().map(|e| e.key.to_owned()));
    // The call pages name these in calls.js, by code.
    wanted.extend(CallKind::ALL.iter().map(|k| format!("call.kind.{k}")));
    wanted.extend(CallState::ALL.iter().map(|s| format!("call.state.{s}")));
    wanted.extend(Team::ALL.iter().map(|t| format!("call.team.{t}")));
    wanted.extend(Team::ALL.iter().map(|t| format!("call.coming.{t}")).chain(["call.coming.other".to_owned()]));
    wanted.extend(OfferState::ALL.iter().map(|s| format!("call.offer.{s}")));
    wanted.extend(RespondStep::ALL.iter().map(|s| format!("call.step.{s}")));
    // A responder is free, holds an offer, or is as far along as the call they own.
    wanted.extend(["idle", "offered", "accepted", "en_route", "on_scene"].map(|s| format!("call.rstate.{s}")));
    wanted.extend(["denied", "unavailable"].map(|s| format!("call.position.{s}")));
    for status in [400, 401, 403, 404, 422, 429, 500] {
        wanted.push(format!("error.{status}.title"));
    }
    for (group, fields) in super::pages::stat_groups() {
        wanted.push((*group).to_owned());
        wanted.extend(fields.iter().map(|f| format!("stat.{f}")));
    }
    // Every count the store returns can be shown.
    let stats = serde_json::to_value(civicgrid_store::Stats::default()).unwrap_or_default();
    wanted.extend(stats.as_object().into_iter().flatten().map(|(k, _)| format!("stat.{k}")));
    let missing: Vec<_> = wanted.iter().filter(|k| !known.contains(k.as_str())).collect();
    assert!(missing.is_empty(), "codes without a message: {missing:?}");
}

#[test]
fn every_template_parses() {
    let env = environment();
    for (name, _) in TEMPLATES {
        env.get_template(name).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    }
}

/// Message keys the handlers hand to templates (flash messages, form errors)
/// are written in Rust; they must exist too.
#[test]
fn every_message_a_handler_names_exists() {
    let known = keys(Lang::ZhCn);
    let sources = [
        ("pages.rs", include_str!("pages.rs")),
        ("session.rs", include_str!("session.rs")),
        ("account.rs", include_str!("account.rs")),
        ("users.rs", include_str!("users.rs")),
        ("audit.rs", include_str!("audit.rs")),
        ("render.rs", include_str!("render.rs")),
        ("cases.rs", include_str!("cases.rs")),
    ];
    let prefixes =
        ["flash.", "login.", "account.", "password.", "users.", "form.", "error.", "audit.", "case.", "cases."];
    let mut named = Vec::new();
    for (name, source) in sources {
        for lit in source.split('"').skip(1).step_by(2) {
            // `/login?flash=flash.signed_out` names a key after `flash=`.
            let key = lit.rsplit('=').next().unwrap_or(lit);
            if prefixes.iter().any(|p| key.starts_with(p))
                && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._".contains(c))
                && !key.ends_with('.')
                && !key.ends_with(".html")
            {
                named.push((name, key.to_owned()));
            }
        }
    }
    assert!(named.iter().any(|(_, k)| k == "flash.signed_out"), "the scan finds flash keys: {named:?}");
    assert!(named.iter().any(|(_, k)| k == "password.too_short"), "the scan finds form errors: {named:?}");
    let missing: Vec<_> = named.iter().filter(|(_, k)| !known.contains(k.as_str())).collect();
    assert!(missing.is_empty(), "unknown message keys in handlers: {missing:?}");
}
