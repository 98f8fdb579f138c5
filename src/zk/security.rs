//! Secured ensembles (docs/security.md): TLS to `secureClientPort` (with a client certificate
//! for mutual TLS), SASL DIGEST-MD5 and SASL GSSAPI (Kerberos); turning these settings into the
//! client's options at every connect (so renewed certificate files and keytabs are used by the
//! next session without a restart), saying *why* a secured connect failed (an untrusted
//! server certificate, a hostname mismatch, a refused client certificate, missing Kerberos
//! credentials), and asking the server which identities the session has, so zkstate's state
//! nodes are guarded for them.
//!
//! Owns: [`Security`] and its parts, the Kerberos process environment, the TLS diagnosis
//! probe, [`identities`]. It never renders a DN or a principal itself: the server's own
//! rendering (`whoAmI`) decides the id the state ACL names.
//!
//! Secrets (the SASL password, private keys) never reach a `Debug` or `Display`.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use zookeeper_client as zk;

use super::ZkError;
use crate::model::{AclEntry, Perms};

/// How a session proves who it is and protects its traffic, beyond `--auth digest:...`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Security {
    /// TLS settings; `None` for plaintext (unless a host is written `tcp+tls://`, which then
    /// uses the system's CA roots).
    pub tls: Option<TlsSettings>,
    /// SASL, as ZooKeeper's Java client does with a JAAS `Client` section.
    pub sasl: Option<Sasl>,
}

/// `--tls`, `--tls-ca`, `--tls-cert`, `--tls-key`. The files are read at every connect.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// `--tls`: every host uses TLS (as if written `tcp+tls://`, unless written `tcp://`).
    pub all_hosts: bool,
    /// PEM bundle of the CAs that sign the servers' certificates; `None`: the system's roots.
    pub ca: Option<PathBuf>,
    /// Client certificate chain and its private key (PEM), for mutual TLS.
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// A SASL mechanism and its credentials.
#[derive(Clone, PartialEq, Eq)]
pub enum Sasl {
    /// `--sasl digest-md5:USER:PASSWORD`.
    DigestMd5 { user: String, password: String },
    /// `--sasl gssapi`: Kerberos, from `--keytab` or the credential cache.
    Gssapi {
        /// `--sasl-principal`; `None`: the keytab's first principal or the cache's default.
        principal: Option<String>,
        /// `--keytab`; `None`: the credential cache (`kinit`).
        keytab: Option<PathBuf>,
        /// `--sasl-service`: the server principal's service name (`zookeeper`).
        service: String,
    },
}

impl std::fmt::Debug for Sasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sasl::DigestMd5 { user, .. } => f
                .debug_struct("DigestMd5")
                .field("user", user)
                .field("password", &"(sensitive)")
                .finish(),
            Sasl::Gssapi {
                principal,
                keytab,
                service,
            } => f
                .debug_struct("Gssapi")
                .field("principal", principal)
                .field("keytab", keytab)
                .field("service", service)
                .finish(),
        }
    }
}

impl Sasl {
    /// Parses `--sasl`: `digest-md5:USER:PASSWORD` or `gssapi` (the Kerberos details come from
    /// their own flags). The error never repeats the value (it may hold a password).
    pub fn parse(
        value: &str,
        principal: Option<String>,
        keytab: Option<PathBuf>,
        service: Option<String>,
    ) -> Result<Sasl, String> {
        let (mech, rest) = value.split_once(':').unwrap_or((value, ""));
        match mech.to_ascii_lowercase().as_str() {
            "digest-md5" => match rest.split_once(':') {
                Some((user, password)) if !user.is_empty() => Ok(Sasl::DigestMd5 {
                    user: user.to_owned(),
                    password: password.to_owned(),
                }),
                _ => Err("--sasl digest-md5 must look like digest-md5:USER:PASSWORD".into()),
            },
            "gssapi" if rest.is_empty() => Ok(Sasl::Gssapi {
                principal,
                keytab,
                service: service.unwrap_or_else(|| "zookeeper".into()),
            }),
            "gssapi" => Err(
                "--sasl gssapi takes no value after it: use --sasl-principal and --keytab".into(),
            ),
            _ => Err("--sasl must be digest-md5:USER:PASSWORD or gssapi".into()),
        }
    }

    /// Who this mechanism authenticates as, for messages (never the password).
    pub fn describe(&self) -> String {
        match self {
            Sasl::DigestMd5 { user, .. } => format!("SASL DIGEST-MD5 as user {user:?}"),
            Sasl::Gssapi {
                principal, keytab, ..
            } => {
                let who = principal
                    .as_deref()
                    .map(|p| format!("principal {p}"))
                    .unwrap_or_else(|| "the default principal".into());
                match keytab {
                    Some(k) => format!(
                        "SASL GSSAPI (Kerberos) as {who} from keytab {}",
                        k.display()
                    ),
                    None => format!("SASL GSSAPI (Kerberos) as {who} from the credential cache"),
                }
            }
        }
    }
}

impl Security {
    /// True when the session proves an identity other than `--auth` digest (so `whoAmI` is
    /// asked after connecting).
    pub fn authenticates(&self) -> bool {
        self.sasl.is_some() || self.tls.as_ref().is_some_and(|t| t.identity.is_some())
    }

    /// TLS settings for `hosts`: the configured ones, or system roots when a host is written
    /// `tcp+tls://` without any TLS flag.
    pub(super) fn tls_for(&self, hosts: &str) -> Option<TlsSettings> {
        self.tls
            .clone()
            .or_else(|| hosts.contains("tcp+tls://").then(TlsSettings::default))
    }
}

/// Sets the process environment that MIT Kerberos reads for `--sasl gssapi --keytab FILE`:
/// the client keytab (`KRB5_CLIENT_KTNAME`) and a credential cache private to this process
/// (`KRB5CCNAME=MEMORY:`), so zkstate neither reads nor overwrites the user's tickets and gets
/// fresh ones from the keytab whenever its tickets expire.
///
/// Must run before any thread starts (it changes the environment).
///
/// # Errors
/// The keytab cannot be read (named in the message).
pub fn prepare_process(security: &Security) -> Result<(), String> {
    let Some(Sasl::Gssapi {
        keytab: Some(keytab),
        ..
    }) = &security.sasl
    else {
        return Ok(());
    };
    if let Err(e) = std::fs::File::open(keytab) {
        return Err(format!(
            "cannot read the Kerberos keytab --keytab {}: {e}",
            keytab.display()
        ));
    }
    let abs = std::path::absolute(keytab).unwrap_or_else(|_| keytab.clone());
    // SAFETY: called from the CLI before the runtime (or any other thread) starts, so nothing
    // reads the environment concurrently.
    unsafe {
        std::env::set_var("KRB5_CLIENT_KTNAME", format!("FILE:{}", abs.display()));
        std::env::set_var(
            "KRB5CCNAME",
            format!("MEMORY:zkstate-{}", std::process::id()),
        );
    }
    Ok(())
}

/// Adds the TLS and SASL options to a connector; reads the certificate files now.
pub(super) fn configure(
    mut connector: zk::Connector,
    security: &Security,
    hosts: &str,
) -> Result<(zk::Connector, bool), ZkError> {
    let tls = security.tls_for(hosts);
    let secure = tls.as_ref().is_some_and(|t| t.all_hosts);
    if let Some(tls) = &tls {
        connector = connector.with_tls(tls_options(tls)?);
    }
    match &security.sasl {
        None => {}
        Some(Sasl::DigestMd5 { user, password }) => {
            connector =
                connector.with_sasl(zk::SaslOptions::digest_md5(user.clone(), password.clone()));
        }
        Some(Sasl::Gssapi { service, .. }) => {
            connector =
                connector.with_sasl(zk::SaslOptions::gssapi().with_username(service.clone()));
        }
    }
    Ok((connector, secure))
}

fn credential_error(message: String) -> ZkError {
    ZkError::Credentials(message)
}

fn read_file(flag: &str, path: &Path) -> Result<String, ZkError> {
    std::fs::read_to_string(path)
        .map_err(|e| credential_error(format!("cannot read {flag} {}: {e}", path.display())))
}

/// The PEM text of the CA roots: `--tls-ca`, or the system's bundle.
fn ca_pem(tls: &TlsSettings) -> Result<String, ZkError> {
    if let Some(ca) = &tls.ca {
        return read_file("--tls-ca", ca);
    }
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        let why = found
            .errors
            .first()
            .map(|e| e.to_string())
            .unwrap_or_else(|| "none found".into());
        return Err(credential_error(format!(
            "no system CA certificates to check the servers' certificates against ({why}); pass --tls-ca FILE"
        )));
    }
    let mut pem = String::new();
    for cert in &found.certs {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(chunk));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    Ok(pem)
}

fn tls_options(tls: &TlsSettings) -> Result<zk::TlsOptions, ZkError> {
    let ca_source = tls
        .ca
        .as_ref()
        .map(|p| format!("--tls-ca {}", p.display()))
        .unwrap_or_else(|| "the system's CA bundle".into());
    let mut options = zk::TlsOptions::new()
        .with_pem_ca(&ca_pem(tls)?)
        .map_err(|e| {
            credential_error(format!("{ca_source} holds no usable CA certificate: {e}"))
        })?;
    if let Some((cert, key)) = &tls.identity {
        let cert_pem = read_file("--tls-cert", cert)?;
        let key_pem = read_file("--tls-key", key)?;
        options = options
            .with_pem_identity(&cert_pem, &key_pem)
            .map_err(|e| {
                credential_error(format!(
                    "cannot use the client certificate --tls-cert {} with --tls-key {}: {e}",
                    cert.display(),
                    key.display()
                ))
            })?;
    }
    Ok(options)
}

/// Before a GSSAPI connect: gets this principal's Kerberos credentials (from the keytab when
/// one is given) and a ticket for the server's service principal `service/host`, so a missing
/// keytab entry, an unknown principal or a server principal the KDC does not know is reported
/// by name instead of as a refused session.
pub(super) async fn preflight(security: &Security, hosts: &str) -> Result<(), ZkError> {
    let Some(
        sasl @ Sasl::Gssapi {
            principal, service, ..
        },
    ) = &security.sasl
    else {
        return Ok(());
    };
    let (principal, service) = (principal.clone(), service.clone());
    let host = super::session::endpoints(hosts)
        .and_then(|e| e.into_iter().next())
        .map(|(h, _)| h)
        .unwrap_or_else(|| "localhost".into());
    let who = sasl.describe();
    let r =
        tokio::task::spawn_blocking(move || kerberos_check(principal.as_deref(), &service, &host))
            .await;
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(credential_error(format!("{who}: {e}"))),
        Err(e) => Err(credential_error(format!(
            "{who}: the Kerberos check stopped: {e}"
        ))),
    }
}

fn kerberos_check(principal: Option<&str>, service: &str, host: &str) -> Result<(), String> {
    use libgssapi::context::{ClientCtx, CtxFlags};
    use libgssapi::credential::{Cred, CredUsage};
    use libgssapi::name::Name;
    use libgssapi::oid::{GSS_MECH_KRB5, GSS_NT_HOSTBASED_SERVICE, GSS_NT_KRB5_PRINCIPAL, OidSet};

    let mut mechs = OidSet::new().map_err(|e| e.to_string())?;
    mechs.add(&GSS_MECH_KRB5).map_err(|e| e.to_string())?;
    let name = principal
        .map(|p| Name::new(p.as_bytes(), Some(&GSS_NT_KRB5_PRINCIPAL)))
        .transpose()
        .map_err(|e| format!("invalid principal name: {e}"))?;
    let cred = Cred::acquire(name.as_ref(), None, CredUsage::Initiate, Some(&mechs))
        .map_err(|e| format!("cannot get Kerberos credentials: {}", gss_message(&e)))?;
    let target = Name::new(
        format!("{service}@{host}").as_bytes(),
        Some(&GSS_NT_HOSTBASED_SERVICE),
    )
    .map_err(|e| format!("invalid service principal {service}/{host}: {e}"))?;
    let mut ctx = ClientCtx::new(
        Some(cred),
        target,
        CtxFlags::GSS_C_MUTUAL_FLAG,
        Some(&GSS_MECH_KRB5),
    );
    ctx.step(None, None).map(|_| ()).map_err(|e| {
        format!(
            "cannot get a Kerberos ticket for the server principal {service}/{host}: {} (connect by the host name in the server's principal; --sasl-service names its first part)",
            gss_message(&e)
        )
    })
}

/// A GSSAPI error on one line.
fn gss_message(e: &libgssapi::error::Error) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The identities the server gives this session (`whoAmI`), as the ACL entries that let only
/// them write: SASL principals and certificate DNs as the server renders them. `ip` (every
/// session has one) and `digest` (whose id `--auth` already names in full) are left out.
pub(super) async fn identities(client: &zk::Client) -> Result<Vec<AclEntry>, zk::Error> {
    let users = client.list_auth_users().await?;
    let mut out: Vec<AclEntry> = users
        .iter()
        .filter(|u| !matches!(u.scheme(), "ip" | "digest" | "world" | "super"))
        .map(|u| AclEntry {
            scheme: u.scheme().to_owned(),
            id: u.user().to_owned(),
            perms: Perms::ALL,
        })
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// How long a TLS diagnosis may wait on one server (connect, handshake, the server's verdict
/// on the client certificate).
const PROBE_IO_TIMEOUT: Duration = Duration::from_secs(2);

/// Why TLS to `host:port` cannot work, when it definitely cannot: `Some(cause)`; `None` when it
/// might (the handshake went through and the server kept the connection open).
pub(super) async fn diagnose_tls(
    security: &Security,
    hosts: &str,
    host: &str,
    port: u16,
) -> Option<String> {
    let tls = security.tls_for(hosts)?;
    let config = match probe_config(&tls) {
        Ok(c) => c,
        Err(e) => return Some(e.to_string()),
    };
    let (host, tls) = (host.to_owned(), tls.clone());
    tokio::task::spawn_blocking(move || tls_probe(&host, port, config, &tls))
        .await
        .ok()
        .flatten()
}

/// The message for TLS settings the client refused before connecting (a certificate it cannot
/// use, e.g. an X.509 v1 certificate or a key that does not parse).
pub(super) fn identity_error(security: &Security, source: &zk::Error) -> String {
    let files = match security.tls.as_ref().and_then(|t| t.identity.as_ref()) {
        Some((cert, key)) => format!(
            "the client certificate --tls-cert {} / --tls-key {}",
            cert.display(),
            key.display()
        ),
        None => "the TLS settings".into(),
    };
    let hint = if source.to_string().contains("UnsupportedCertVersion") {
        " (an X.509 v1 certificate: issue a v3 certificate, e.g. with extensions)"
    } else {
        ""
    };
    format!("cannot use {files}: {source}{hint}")
}

/// True when `host:port` answers a TLS handshake (used when a plaintext session does not
/// start: the port may be a secureClientPort).
pub(super) async fn speaks_tls(host: &str, port: u16) -> bool {
    let host = host.to_owned();
    tokio::task::spawn_blocking(move || {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let Ok(builder) = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
        else {
            return false;
        };
        // No roots: any server certificate fails verification, which proves TLS is spoken.
        let config = Arc::new(
            builder
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        );
        let name = rustls::pki_types::ServerName::try_from(host.clone()).unwrap_or_else(|_| {
            rustls::pki_types::ServerName::try_from("localhost").expect("valid")
        });
        let Some(mut sock) = (host.as_str(), port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .and_then(|a| TcpStream::connect_timeout(&a, PROBE_IO_TIMEOUT).ok())
        else {
            return false;
        };
        let _ = sock.set_read_timeout(Some(PROBE_IO_TIMEOUT));
        let _ = sock.set_write_timeout(Some(PROBE_IO_TIMEOUT));
        let Ok(mut conn) = rustls::ClientConnection::new(config, name) else {
            return false;
        };
        while conn.is_handshaking() {
            if let Err(e) = conn.complete_io(&mut sock) {
                let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
                return matches!(
                    inner,
                    Some(rustls::Error::InvalidCertificate(_) | rustls::Error::AlertReceived(_))
                );
            }
        }
        true
    })
    .await
    .unwrap_or(false)
}

/// A rustls client configuration equivalent to the session's (same roots, same identity).
fn probe_config(tls: &TlsSettings) -> Result<Arc<rustls::ClientConfig>, ZkError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    let pem = ca_pem(tls)?;
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()).flatten() {
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| credential_error(format!("TLS set-up failed: {e}")))?
        .with_root_certificates(roots);
    let config = match &tls.identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(read_file("--tls-cert", cert)?.as_bytes())
                    .flatten()
                    .collect();
            let key_der = PrivateKeyDer::from_pem_slice(read_file("--tls-key", key)?.as_bytes())
                .map_err(|_| {
                    credential_error(format!("--tls-key {} holds no private key", key.display()))
                })?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                credential_error(format!(
                    "cannot use the client certificate --tls-cert {} with --tls-key {}: {e}",
                    cert.display(),
                    key.display()
                ))
            })?
        }
    };
    Ok(Arc::new(config))
}

fn tls_probe(
    host: &str,
    port: u16,
    config: Arc<rustls::ClientConfig>,
    tls: &TlsSettings,
) -> Option<String> {
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs().ok()?.collect();
    let addr = *addrs.first()?;
    let mut sock = TcpStream::connect_timeout(&addr, PROBE_IO_TIMEOUT).ok()?;
    sock.set_read_timeout(Some(PROBE_IO_TIMEOUT)).ok()?;
    sock.set_write_timeout(Some(PROBE_IO_TIMEOUT)).ok()?;
    let name = rustls::pki_types::ServerName::try_from(host.to_owned()).ok()?;
    let mut conn = rustls::ClientConnection::new(config, name).ok()?;
    let at = format!("{host}:{port}");
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut sock) {
            if matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
            ) && conn.peer_certificates().is_none()
            {
                return Some(format!(
                    "{at}: the server closed the connection during the TLS handshake: is this the plaintext clientPort rather than the secureClientPort?"
                ));
            }
            return explain(&at, &e, tls);
        }
    }
    // TLS 1.3: the server judges the client certificate after the client's handshake ends;
    // a refusal arrives as an alert on the first read. ZooKeeper itself sends nothing until
    // it gets a request, so a read that times out means the server accepted us.
    let mut stream = rustls::Stream::new(&mut conn, &mut sock);
    let _ = stream.flush();
    let mut buf = [0u8; 1];
    match stream.read(&mut buf) {
        Ok(0) => Some(format!(
            "{at}: the server closed the TLS connection right after the handshake{}",
            match &tls.identity {
                Some((cert, _)) => format!(
                    " (it refused the client certificate --tls-cert {})",
                    cert.display()
                ),
                None =>
                    " (it may require a client certificate: pass --tls-cert and --tls-key)".into(),
            }
        )),
        Ok(_) => None,
        Err(e) => explain(&at, &e, tls),
    }
}

/// The cause of a failed TLS exchange, in words a person can act on; `None` when the error
/// is not a definite TLS failure (a timeout, a reset that may be transient).
fn explain(at: &str, e: &std::io::Error, tls: &TlsSettings) -> Option<String> {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    let host = at.rsplit_once(':').map(|(h, _)| h).unwrap_or(at);
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<E>())?;
    let trusted = tls
        .ca
        .as_ref()
        .map(|p| format!("--tls-ca {}", p.display()))
        .unwrap_or_else(|| "the system's CA bundle (no --tls-ca given)".into());
    let cause = match inner {
        E::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => format!(
            "the server's certificate is not signed by a CA in {trusted} (untrusted server certificate)"
        ),
        E::InvalidCertificate(C::NotValidForName) => {
            "hostname mismatch: the server's certificate is not valid for this host name; connect by a name the certificate lists".to_string()
        }
        E::InvalidCertificate(C::NotValidForNameContext { presented, .. }) => format!(
            "hostname mismatch: the server's certificate is not valid for {host} (it names {}); connect by a name the certificate lists",
            presented.join(", ")
        ),
        E::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "the server's certificate has expired".to_string()
        }
        E::InvalidCertificate(other) => format!("the server's certificate is invalid: {other:?}"),
        E::AlertReceived(
            alert @ (A::CertificateRequired
            | A::BadCertificate
            | A::CertificateUnknown
            | A::UnknownCA
            | A::CertificateExpired
            | A::CertificateRevoked
            | A::UnsupportedCertificate
            | A::AccessDenied
            | A::HandshakeFailure),
        ) => match &tls.identity {
            Some((cert, _)) => format!(
                "the server refused the client certificate --tls-cert {} (TLS alert {alert:?}): it must be signed by a CA the server trusts and be valid",
                cert.display()
            ),
            None => format!(
                "the server requires a client certificate (TLS alert {alert:?}): pass --tls-cert and --tls-key"
            ),
        },
        E::AlertReceived(alert) => format!("the server ended the TLS handshake (alert {alert:?})"),
        E::InvalidMessage(_) | E::InappropriateMessage { .. } | E::InappropriateHandshakeMessage { .. } => {
            "no TLS handshake: this port does not speak TLS (is it the plaintext clientPort rather than the secureClientPort?)".to_string()
        }
        other => format!("TLS failed: {other}"),
    };
    Some(format!("{at}: {cause}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_values_parse_and_never_show_the_password() {
        let s = Sasl::parse("digest-md5:bob:s3cr:et", None, None, None).unwrap();
        assert_eq!(
            s,
            Sasl::DigestMd5 {
                user: "bob".into(),
                password: "s3cr:et".into()
            }
        );
        let shown = format!("{s:?} {}", s.describe());
        assert!(!shown.contains("s3cr"), "{shown}");
        let g = Sasl::parse("gssapi", Some("c@R".into()), None, None).unwrap();
        assert!(matches!(g, Sasl::Gssapi { ref service, .. } if service == "zookeeper"));
        // A malformed value is refused without echoing it (it may hold a password).
        for bad in [
            "digest-md5",
            "digest-md5:onlyuser",
            "plain:bob:pw-9f3",
            "gssapi:pw-9f3",
        ] {
            let e = Sasl::parse(bad, None, None, None).unwrap_err();
            assert!(!e.contains("pw-9f3") && !e.contains("onlyuser"), "{e}");
        }
    }

    #[test]
    fn tls_hosts_without_flags_use_the_system_roots() {
        let none = Security::default();
        assert_eq!(none.tls_for("a:1,b:2"), None);
        assert_eq!(none.tls_for("tcp+tls://a:1"), Some(TlsSettings::default()));
        assert!(!none.authenticates());
        let mtls = Security {
            tls: Some(TlsSettings {
                all_hosts: true,
                ca: None,
                identity: Some(("c".into(), "k".into())),
            }),
            sasl: None,
        };
        assert!(mtls.authenticates());
    }
}
