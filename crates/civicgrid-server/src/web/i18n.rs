//! The message catalogues (`messages/zh-CN.json`, `messages/en.json`) and the
//! choice of a visitor's language: `?lang=`, then the `lang` cookie, then
//! `Accept-Language`, then Simplified Chinese.

use std::collections::BTreeMap;
use std::sync::LazyLock;

/// A language the pages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    ZhCn,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::ZhCn, Lang::En];

    /// The BCP 47 tag, used for `<html lang>`, the cookie and `?lang=`.
    pub const fn tag(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh-CN",
            Lang::En => "en",
        }
    }

    /// Accepts our own tags exactly, and any `zh…`/`en…` tag loosely, since
    /// browsers send `zh`, `zh-Hans-CN`, `en-GB` and the like.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let tag = tag.trim().to_ascii_lowercase();
        if tag == "zh" || tag.starts_with("zh-") {
            Some(Lang::ZhCn)
        } else if tag == "en" || tag.starts_with("en-") {
            Some(Lang::En)
        } else {
            None
        }
    }

    fn source(self) -> &'static str {
        match self {
            Lang::ZhCn => include_str!("../../messages/zh-CN.json"),
            Lang::En => include_str!("../../messages/en.json"),
        }
    }
}

pub type Catalogue = BTreeMap<String, String>;

/// Parses a catalogue; a broken file is a build mistake the unit tests catch,
/// so at run time it only costs the texts (keys are shown instead).
fn load(lang: Lang) -> Catalogue {
    serde_json::from_str(lang.source()).unwrap_or_else(|e| {
        tracing::error!(lang = lang.tag(), error = %e, "message catalogue does not parse");
        Catalogue::new()
    })
}

static ZH_CN: LazyLock<Catalogue> = LazyLock::new(|| load(Lang::ZhCn));
static EN: LazyLock<Catalogue> = LazyLock::new(|| load(Lang::En));

pub fn catalogue(lang: Lang) -> &'static Catalogue {
    match lang {
        Lang::ZhCn => &ZH_CN,
        Lang::En => &EN,
    }
}

/// The text of `key`, with `{name}` placeholders filled from `args`; an unknown
/// key shows as itself so a missing text is visible rather than blank.
pub fn text(lang: Lang, key: &str, args: &[(&str, String)]) -> String {
    let mut s = catalogue(lang).get(key).cloned().unwrap_or_else(|| key.to_owned());
    for (name, value) in args {
        s = s.replace(&format!("{{{name}}}"), value);
    }
    s
}

/// The language a request asks for, and whether it came from `?lang=` (then it
/// is remembered in a cookie).
pub fn negotiate(query: Option<&str>, cookie: Option<&str>, accept_language: Option<&str>) -> (Lang, bool) {
    if let Some(lang) = query.and_then(Lang::from_tag) {
        return (lang, true);
    }
    if let Some(lang) = cookie.and_then(Lang::from_tag) {
        return (lang, false);
    }
    (accept_language.and_then(from_accept_language).unwrap_or(Lang::ZhCn), false)
}

/// The best of our languages in an `Accept-Language` header, by quality.
fn from_accept_language(header: &str) -> Option<Lang> {
    let mut ranked: Vec<(u16, Lang)> = header
        .split(',')
        .filter_map(|part| {
            let mut bits = part.split(';');
            let lang = Lang::from_tag(bits.next()?)?;
            let q =
                bits.find_map(|p| p.trim().strip_prefix("q=")).map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            // Whole thousandths: enough to rank, and integers sort without NaN worries.
            let q = (q.clamp(0.0, 1.0) * 1000.0).round() as u16;
            (q > 0).then_some((q, lang))
        })
        .collect();
    // Stable sort keeps the header's order among equal qualities.
    ranked.sort_by_key(|r| std::cmp::Reverse(r.0));
    ranked.first().map(|(_, lang)| *lang)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_wins_then_the_cookie_then_the_browser_then_chinese() {
        assert_eq!(negotiate(Some("en"), Some("zh-CN"), Some("zh")), (Lang::En, true));
        assert_eq!(negotiate(Some("klingon"), Some("en"), None), (Lang::En, false));
        assert_eq!(negotiate(None, None, Some("fr-FR,en-GB;q=0.8,zh;q=0.5")), (Lang::En, false));
        assert_eq!(negotiate(None, None, Some("en;q=0.3,zh-Hans-CN")), (Lang::ZhCn, false));
        assert_eq!(negotiate(None, None, Some("fr, de")), (Lang::ZhCn, false));
        assert_eq!(negotiate(None, None, Some("en;q=0")), (Lang::ZhCn, false));
        assert_eq!(negotiate(None, None, None), (Lang::ZhCn, false));
    }

    #[test]
    fn placeholders_are_filled_and_unknown_keys_show_themselves() {
        assert_eq!(
            text(Lang::En, "table.more", &[("shown", "5".into()), ("total", "9".into())]),
            "Showing the first 5 of 9"
        );
        assert_eq!(text(Lang::ZhCn, "no.such.key", &[]), "no.such.key");
    }
}
