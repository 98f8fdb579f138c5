//! ACL specs → [`AclEntry`], with the checks ZooKeeper would otherwise make at apply time.
//!
//! - `world`: the id must be `anyone`.
//! - `digest`: `user:BASE64(SHA1("user:password"))`, the hash being 28 characters of standard
//!   base64 (20 bytes). A clear-text password is refused: it would be stored as the hash of itself.
//! - `ip`: an IPv4 or IPv6 address, optionally with a `/bits` prefix length.
//! - `auth`: any id (ZooKeeper substitutes the authenticated identities).
//! - `sasl`, `x509`: a non-empty principal.
//! - every entry needs at least one permission (the schema's `minItems`), and a list needs at
//!   least one entry (ZooKeeper rejects an empty ACL).
use std::net::IpAddr;

use base64::Engine;

use super::spec::{AclScheme, AclSpec, PermWord};
use super::structure::Problem;
use crate::model::{AclEntry, Perms};

/// Converts an `acl:` list at `pointer`. Problems are appended; `None` when there were any.
pub fn convert(
    entries: &[AclSpec],
    pointer: &str,
    problems: &mut Vec<Problem>,
) -> Option<Vec<AclEntry>> {
    let before = problems.len();
    if entries.is_empty() {
        problems.push(
            Problem::at(pointer, "an ACL must have at least one entry").hint(
                "leave `acl` out to create nodes with the open ACL (world:anyone, all permissions)",
            ),
        );
    }
    let mut out = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let id_at = format!("{pointer}/{i}/id");
        if let Err((message, hint)) = check_id(e.scheme, &e.id) {
            problems.push(Problem::at(id_at, message).hint(hint));
        }
        let perms = e.perms.iter().fold(0u32, |acc, p| acc | perm(*p).0);
        out.push(AclEntry {
            scheme: scheme_name(e.scheme).to_owned(),
            id: e.id.clone(),
            perms: Perms(perms),
        });
    }
    (problems.len() == before).then_some(out)
}

fn perm(p: PermWord) -> Perms {
    match p {
        PermWord::Read => Perms::READ,
        PermWord::Write => Perms::WRITE,
        PermWord::Create => Perms::CREATE,
        PermWord::Delete => Perms::DELETE,
        PermWord::Admin => Perms::ADMIN,
        PermWord::All => Perms::ALL,
    }
}

fn scheme_name(s: AclScheme) -> &'static str {
    match s {
        AclScheme::World => "world",
        AclScheme::Digest => "digest",
        AclScheme::Ip => "ip",
        AclScheme::Auth => "auth",
        AclScheme::Sasl => "sasl",
        AclScheme::X509 => "x509",
    }
}

/// Checks an id for its scheme: `Err((message, hint))`. Messages do not echo digest ids.
fn check_id(scheme: AclScheme, id: &str) -> Result<(), (String, String)> {
    match scheme {
        AclScheme::World if id == "anyone" => Ok(()),
        AclScheme::World => Err((
            "the `world` scheme's id must be `anyone`".into(),
            "write `{scheme: world, id: anyone, perms: [...]}`".into(),
        )),
        AclScheme::Digest => check_digest(id),
        AclScheme::Ip => check_ip(id),
        AclScheme::Auth => Ok(()),
        AclScheme::Sasl | AclScheme::X509 if !id.trim().is_empty() => Ok(()),
        AclScheme::Sasl | AclScheme::X509 => Err((
            format!(
                "the `{}` scheme needs a principal as id",
                scheme_name(scheme)
            ),
            "e.g. `id: zkstate@EXAMPLE.COM` (sasl) or the certificate's subject DN (x509)".into(),
        )),
    }
}

const DIGEST_HINT: &str = "a digest id is `user:HASH` with HASH = base64(sha1(\"user:password\")), 28 \
     characters; compute it with `printf '%s' 'user:password' | openssl dgst -binary -sha1 | base64`";

fn check_digest(id: &str) -> Result<(), (String, String)> {
    let Some((user, hash)) = id.split_once(':') else {
        return Err((
            "digest id must be `user:BASE64SHA1`".into(),
            DIGEST_HINT.into(),
        ));
    };
    if user.is_empty() {
        return Err((
            "digest id has an empty user name".into(),
            DIGEST_HINT.into(),
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(hash);
    if hash.len() != 28 || !matches!(decoded, Ok(ref b) if b.len() == 20) {
        return Err((
            format!("digest id for user `{user}` does not carry a 28-character base64 SHA-1 hash"),
            DIGEST_HINT.into(),
        ));
    }
    Ok(())
}

fn check_ip(id: &str) -> Result<(), (String, String)> {
    let hint =
        "an `ip` id is an address or a CIDR block, e.g. `10.0.0.1` or `10.0.0.0/8`".to_owned();
    let (addr, bits) = match id.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (id, None),
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return Err((format!("`{id}` is not an IP address or CIDR block"), hint));
    };
    if let Some(b) = bits {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        match b.parse::<u8>() {
            Ok(n) if n <= max => {}
            _ => {
                return Err((
                    format!("`{id}` has an invalid prefix length (0 to {max})"),
                    hint,
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(scheme: AclScheme, id: &str, perms: &[PermWord]) -> AclSpec {
        AclSpec {
            scheme,
            id: id.into(),
            perms: perms.to_vec(),
        }
    }

    #[test]
    fn converts_valid_entries() {
        let mut problems = Vec::new();
        let acl = convert(
            &[
                spec(AclScheme::World, "anyone", &[PermWord::Read]),
                spec(
                    AclScheme::Digest,
                    "deployer:tOs2Bzq7l0NjD5S3fgFr8VuExXk=",
                    &[PermWord::All],
                ),
                spec(
                    AclScheme::Ip,
                    "10.0.0.0/8",
                    &[PermWord::Read, PermWord::Write],
                ),
                spec(AclScheme::Ip, "::1", &[PermWord::Admin]),
            ],
            "/spec/acl",
            &mut problems,
        )
        .unwrap();
        assert!(problems.is_empty());
        assert_eq!(acl[0].to_string(), "world:anyone:read");
        assert_eq!(acl[1].perms, Perms::ALL);
        assert_eq!(acl[2].perms, Perms(3));
    }

    #[test]
    fn rejects_bad_ids_at_the_id() {
        let mut problems = Vec::new();
        let r = convert(
            &[
                spec(AclScheme::World, "everyone", &[PermWord::Read]),
                spec(
                    AclScheme::Digest,
                    "deployer:secret-password",
                    &[PermWord::All],
                ),
                spec(AclScheme::Ip, "10.0.0.0/33", &[PermWord::Read]),
                spec(AclScheme::Ip, "db.local", &[PermWord::Read]),
                spec(AclScheme::Sasl, "", &[PermWord::Read]),
            ],
            "/spec/acl",
            &mut problems,
        );
        assert!(r.is_none());
        let got: Vec<_> = problems
            .iter()
            .map(|p| (p.pointer.as_str(), p.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("/spec/acl/0/id", "the `world` scheme's id must be `anyone`"),
                (
                    "/spec/acl/1/id",
                    "digest id for user `deployer` does not carry a 28-character base64 SHA-1 hash"
                ),
                (
                    "/spec/acl/2/id",
                    "`10.0.0.0/33` has an invalid prefix length (0 to 32)"
                ),
                (
                    "/spec/acl/3/id",
                    "`db.local` is not an IP address or CIDR block"
                ),
                (
                    "/spec/acl/4/id",
                    "the `sasl` scheme needs a principal as id"
                ),
            ]
        );
        assert!(!problems[1].message.contains("secret-password"));
        let mut problems = Vec::new();
        assert!(convert(&[], "/spec/acl", &mut problems).is_none());
        assert_eq!(problems[0].message, "an ACL must have at least one entry");
    }
}
