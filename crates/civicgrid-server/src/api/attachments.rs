//! Photos over the API: upload (checked by content, stored by checksum) and
//! the public copy or thumbnail for whoever may see a case showing it. The
//! original, EXIF location and all, only for its uploader and the case's handlers.

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use civicgrid_domain::{Permission, UnitCode};
use civicgrid_store::attachments::{AttachmentError, AttachmentStore, Variant};
use serde_json::json;
use std::sync::Arc;

/// Largest upload, bytes: a phone photo.
pub const MAX_UPLOAD: usize = civicgrid_store::attachments::DEFAULT_MAX_BYTES;

fn files(state: &AppState) -> Result<&Arc<AttachmentStore>, ApiError> {
    state.attachments.as_ref().ok_or_else(|| ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: "no_attachments",
        message: "this server has no attachment directory configured".into(),
    })
}

impl From<AttachmentError> for ApiError {
    fn from(e: AttachmentError) -> Self {
        match e {
            AttachmentError::TooLarge { .. } => {
                ApiError { status: StatusCode::PAYLOAD_TOO_LARGE, code: "payload_too_large", message: e.to_string() }
            }
            AttachmentError::NotFound(_) => ApiError::not_found(e.to_string()),
            AttachmentError::Io(_) | AttachmentError::Checksum(_) => {
                tracing::error!(error = %e, "attachment storage failed");
                ApiError::internal_with("the attachment could not be stored or read; it has been logged")
            }
            _ => ApiError::unprocessable(e.to_string()),
        }
    }
}

/// `POST /api/v1/attachments` with the image as the body.
pub async fn upload(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, axum::Json<serde_json::Value>), ApiError> {
    let store = files(&state)?.clone();
    let declared = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !declared.starts_with("image/") {
        return Err(ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "unsupported_media_type",
            message: "send the photo itself as the body, with Content-Type image/jpeg, image/png or image/webp".into(),
        });
    }
    // Decoding and re-encoding is CPU work; keep it off the request threads.
    let stored = tokio::task::spawn_blocking(move || store.put(&body))
        .await
        .map_err(|_| ApiError::internal_with("the upload could not be processed"))??;
    state.store.record_attachment(&stored, &caller.actor()).await?;
    let status = if stored.created { StatusCode::CREATED } else { StatusCode::OK };
    let id = stored.id.clone();
    Ok((
        status,
        axum::Json(json!({
            "id": id, "kind": stored.kind, "size": stored.size, "width": stored.width, "height": stored.height,
            "public_url": format!("/api/v1/attachments/{id}/public"),
            "thumbnail_url": format!("/api/v1/attachments/{id}/thumb"),
        })),
    ))
}

/// Photo ids a caller attaches to a report or a step: each must exist and
/// have been uploaded by the caller.
pub async fn own_photos(state: &AppState, caller: &Caller, ids: &[String]) -> Result<Vec<String>, ApiError> {
    if ids.len() > 9 {
        return Err(ApiError::unprocessable("at most 9 photos at a time"));
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match state.store.attachment_uploader(id).await? {
            Some(Some(by)) if by == caller.principal.user_id => out.push(id.clone()),
            _ => return Err(ApiError::unprocessable(format!("photo {id} is not one you uploaded"))),
        }
    }
    Ok(out)
}

/// `GET /api/v1/attachments/{id}/{variant}` (`public`, `thumb`, `original`).
pub async fn fetch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, variant)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let variant = match variant.as_str() {
        "public" => Variant::Public,
        "thumb" => Variant::Thumbnail,
        "original" => Variant::Original,
        other => {
            return Err(ApiError::bad_request(format!("unknown variant {other:?}; use public, thumb or original")));
        }
    };
    let missing = || ApiError::not_found(format!("no attachment {id}"));
    let uploader = state.store.attachment_uploader(&id).await?.ok_or_else(missing)?;
    let own = uploader == Some(caller.principal.user_id);
    let cases = state.store.cases_showing(&id).await?;
    let grid = |c: &civicgrid_store::CaseRecord| UnitCode::parse(&c.grid).ok();
    let sees = cases.iter().any(|c| crate::casework::may_see(&caller, c));
    let handles = cases.iter().filter_map(grid).any(|g| caller.principal.may_at(Permission::HandleCases, &g));
    let allowed = match variant {
        Variant::Original => own || handles,
        _ => own || sees,
    };
    if !allowed {
        return Err(missing());
    }
    let store = files(&state)?.clone();
    let (bytes, mime) = tokio::task::spawn_blocking(move || store.read(&id, variant))
        .await
        .map_err(|_| ApiError::internal_with("the attachment could not be read"))??;
    Ok(([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "private, max-age=86400")], bytes).into_response())
}
