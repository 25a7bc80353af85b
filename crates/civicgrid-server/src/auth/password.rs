//! Password hashing with argon2id.
//!
//! Parameters: 19 MiB of memory, 2 passes, 1 lane — the OWASP minimum for
//! argon2id. They keep a sign-in near 20–40 ms on one core of a small server
//! while making each guess cost an attacker the same memory; see
//! BENCHMARKS.md for the measured figure.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

pub const MEMORY_KIB: u32 = 19 * 1024;
pub const PASSES: u32 = 2;
pub const LANES: u32 = 1;

fn argon2() -> Argon2<'static> {
    // The constants are valid parameters; a failure here is a build defect.
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).unwrap_or_else(|e| panic!("argon2 parameters: {e}"));
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) for `password`.
pub fn hash(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).unwrap_or_else(|e| panic!("no randomness from the operating system: {e}"));
    let salt = SaltString::encode_b64(&salt).unwrap_or_else(|e| panic!("salt: {e}"));
    argon2().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).unwrap_or_else(|e| panic!("argon2: {e}"))
}

/// True when `password` matches the PHC string `stored`. A malformed stored
/// hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => argon2().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Spends the time of one verification, so a wrong username takes as long as
/// a wrong password.
pub fn burn() {
    static DUMMY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| hash("not a real password"));
    let _ = verify("still not it", &DUMMY);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_carry_their_parameters() {
        let h = hash("demo-password-2026");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("demo-password-2026", &h));
        assert!(!verify("demo-password-2027", &h));
        assert!(!verify("demo-password-2026", "not a hash"));
        assert_ne!(h, hash("demo-password-2026"), "salted");
    }
}
