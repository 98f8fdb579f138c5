//! `POST /hooks/git` (docs/contract.md §4a): checks that a push notification carries the
//! webhook secret, in GitHub's form (`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the
//! body>`) or GitLab's (`X-Gitlab-Token: <secret>`). Pure: no I/O; the agent decides what a
//! valid hook does (the leader fetches, a standby only answers 202).
use sha2::{Digest, Sha256};

/// HMAC-SHA256 (RFC 2104) of `body` with `key`.
pub fn hmac_sha256(key: &[u8], body: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(body);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// Compares in time independent of where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether a request with these headers (name, value; names in any case) and body carries
/// `secret`.
pub fn is_signed(secret: &str, headers: &[(String, String)], body: &[u8]) -> bool {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    };
    if let Some(sig) = header("x-hub-signature-256") {
        let Some(hex_sig) = sig.strip_prefix("sha256=") else {
            return false;
        };
        let Ok(given) = hex::decode(hex_sig) else {
            return false;
        };
        return same(&given, &hmac_sha256(secret.as_bytes(), body));
    }
    if let Some(token) = header("x-gitlab-token") {
        return same(token.as_bytes(), secret.as_bytes());
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn github_and_gitlab_forms_are_checked() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let sig = format!("sha256={}", hex::encode(hmac_sha256(b"s3cret", body)));
        let h = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        assert!(is_signed("s3cret", &h("X-Hub-Signature-256", &sig), body));
        assert!(!is_signed("other", &h("X-Hub-Signature-256", &sig), body));
        assert!(!is_signed("s3cret", &h("X-Hub-Signature-256", &sig), b"{}"));
        assert!(!is_signed(
            "s3cret",
            &h("X-Hub-Signature-256", "sha1=00"),
            body
        ));
        assert!(is_signed("s3cret", &h("X-Gitlab-Token", "s3cret"), body));
        assert!(!is_signed("s3cret", &h("X-Gitlab-Token", "s3cre"), body));
        assert!(!is_signed("s3cret", &[], body));
    }
}
