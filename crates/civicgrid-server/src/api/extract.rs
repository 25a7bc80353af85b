//! Query and JSON extractors whose rejections are [`ApiError`]s, so malformed
//! input gets the same JSON error body as everything else.

use crate::error::ApiError;
use axum::extract::{FromRequest, FromRequestParts};

#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Q<T>(pub T);

#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct J<T>(pub T);
