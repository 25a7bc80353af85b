//! Who is calling and what they may do: passwords (argon2id), sessions for
//! pages, bearer tokens for API clients, the table of every route with the
//! permission it needs, and the middleware that enforces it.
//!
//! Handlers get a [`Caller`] from the request extensions; scope checks on
//! the objects a handler touches stay in the handler (404 for objects outside
//! the caller's scope, 403 for actions).

pub(crate) mod caller;
pub mod password;
mod ratelimit;
pub mod routes;
mod secret;
mod sign_in;

pub use caller::{Caller, Via};
pub use ratelimit::RateLimits;
pub use routes::{Access, Kind, ROUTES, RouteSpec};
pub use secret::{new_secret, sha256_hex};
pub use sign_in::{SignInError, sign_in};

/// Name of the session cookie (HttpOnly, SameSite=Lax).
pub const SESSION_COOKIE: &str = "cg_session";
/// Name of the cookie that carries the CSRF token of a visitor without a session.
pub const CSRF_COOKIE: &str = "cg_csrf";
/// Header a script sends the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a page session and a sign-in token live.
pub const SESSION_HOURS: i64 = 12;
