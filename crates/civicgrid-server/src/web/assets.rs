//! Static files embedded in the binary (our CSS and JS, vendored Leaflet),
//! served under `/assets/` from a fixed list so nothing is read from disk.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Path under `/assets/`, content type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    ("app.css", "text/css; charset=utf-8", include_bytes!("../../assets/app.css")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/app.js")),
    ("calls.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/calls.js")),
    (
        "vendor/leaflet/leaflet.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/vendor/leaflet/leaflet.js"),
    ),
    (
        "vendor/leaflet/leaflet.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/vendor/leaflet/leaflet.css"),
    ),
    ("vendor/leaflet/LICENSE", "text/plain; charset=utf-8", include_bytes!("../../assets/vendor/leaflet/LICENSE")),
    ("vendor/leaflet/images/layers.png", "image/png", include_bytes!("../../assets/vendor/leaflet/images/layers.png")),
    (
        "vendor/leaflet/images/layers-2x.png",
        "image/png",
        include_bytes!("../../assets/vendor/leaflet/images/layers-2x.png"),
    ),
    (
        "vendor/leaflet/images/marker-icon.png",
        "image/png",
        include_bytes!("../../assets/vendor/leaflet/images/marker-icon.png"),
    ),
    (
        "vendor/leaflet/images/marker-icon-2x.png",
        "image/png",
        include_bytes!("../../assets/vendor/leaflet/images/marker-icon-2x.png"),
    ),
    (
        "vendor/leaflet/images/marker-shadow.png",
        "image/png",
        include_bytes!("../../assets/vendor/leaflet/images/marker-shadow.png"),
    ),
];

/// Appended to asset URLs so a new release is fetched afresh despite the long cache.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub async fn serve(Path(path): Path<String>) -> Response {
    match FILES.iter().find(|(p, _, _)| *p == path) {
        Some((_, content_type, bytes)) => {
            ([(header::CONTENT_TYPE, *content_type), (header::CACHE_CONTROL, "public, max-age=86400")], *bytes)
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "404").into_response(),
    }
}

#[cfg(test)]
pub(super) fn text_files() -> impl Iterator<Item = (&'static str, &'static str)> {
    FILES
        .iter()
        .filter(|(p, _, _)| !p.starts_with("vendor/") && (p.ends_with(".js") || p.ends_with(".css")))
        .map(|(p, _, b)| (*p, std::str::from_utf8(b).unwrap_or_default()))
}
