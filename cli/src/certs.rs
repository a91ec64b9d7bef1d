//! `gongji certs`: a development certificate authority and the certificates
//! of a network, as PEM files in one directory:
//!
//! | file | names (subject alternative names) | for |
//! |---|---|---|
//! | `ca.pem`, `ca.key` | — | the CA every server and client trusts |
//! | `hub.pem`, `hub.key` | `hub.gongji`, `localhost`, `127.0.0.1`, --host | the national hub |
//! | `province-NN.pem`, `.key` | `province-NN.gongji`, `localhost`, `127.0.0.1`, --host | province NN's node |
//! | `client.pem`, `client.key` | `client.gongji` | the CLI, grpcurl, institutions' systems |
//!
//! The servers' certificates serve both ends of a link (server and client
//! authentication); the client certificate only the client end. Private
//! keys are written readable by their owner only. For production, issue the
//! same names from the operator's own CA.

use std::{
    io::Write,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use gongji_common::{tls, ProvinceCode};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// How long the certificates are valid, in years from the start of this year.
const VALID_YEARS: i32 = 10;

/// The file name (without extension) of province `code`'s certificate.
pub fn province_file(code: ProvinceCode) -> String {
    format!("province-{code}")
}

/// What a set of certificates is for.
#[derive(Debug, Clone)]
pub struct CertsSpec {
    pub provinces: Vec<ProvinceCode>,
    /// More names (DNS or IP) the servers' certificates carry, besides
    /// `localhost` and `127.0.0.1`.
    pub hosts: Vec<String>,
}

/// True when `dir` holds a complete set for `spec` (the CA, the hub, every
/// province and the client).
pub fn complete(dir: &Path, spec: &CertsSpec) -> bool {
    let mut names = vec!["hub".to_owned(), "client".to_owned()];
    names.extend(spec.provinces.iter().map(|code| province_file(*code)));
    dir.join("ca.pem").is_file()
        && names.iter().all(|name| {
            let files = tls::TlsFiles::in_dir(dir, name);
            files.cert.is_file() && files.key.is_file()
        })
}

/// Writes a fresh CA and every certificate of `spec` into `dir` (created if
/// missing), replacing any files of the same names. Returns the files written.
pub fn write(dir: &Path, spec: &CertsSpec) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let generated = |e: rcgen::Error| format!("generating a certificate: {e}");

    let ca_key = KeyPair::generate().map_err(generated)?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name.push(DnType::CommonName, "Gongji development CA");
    ca.distinguished_name.push(DnType::OrganizationName, "Gongji");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    set_validity(&mut ca);
    let ca_cert = ca.self_signed(&ca_key).map_err(generated)?;
    let mut written = vec![write_file(&dir.join("ca.pem"), &ca_cert.pem(), false)?];
    written.push(write_file(&dir.join("ca.key"), &ca_key.serialize_pem(), true)?);
    let issuer = Issuer::new(ca, ca_key);

    let mut server_names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    server_names.extend(spec.hosts.iter().cloned());
    let mut parties = vec![("hub".to_owned(), "Gongji national hub".to_owned(), tls::HUB_NAME.to_owned(), true)];
    for code in &spec.provinces {
        parties.push((
            province_file(*code),
            format!("Gongji province {code}"),
            tls::province_name(*code),
            true,
        ));
    }
    parties.push(("client".to_owned(), "Gongji client".to_owned(), tls::CLIENT_NAME.to_owned(), false));

    for (file, common_name, identity, serves) in parties {
        let mut names = vec![identity];
        if serves {
            names.extend(server_names.iter().cloned());
        }
        let mut params = CertificateParams::new(names).map_err(|e| format!("{file}: {e}"))?;
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.distinguished_name.push(DnType::OrganizationName, "Gongji");
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = if serves {
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth]
        } else {
            vec![ExtendedKeyUsagePurpose::ClientAuth]
        };
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params);
        let key = KeyPair::generate().map_err(generated)?;
        let cert = params.signed_by(&key, &issuer).map_err(generated)?;
        written.push(write_file(&dir.join(format!("{file}.pem")), &cert.pem(), false)?);
        written.push(write_file(&dir.join(format!("{file}.key")), &key.serialize_pem(), true)?);
    }
    Ok(written)
}

/// Valid from the start of last year (so a clock a little behind still
/// accepts them) to [`VALID_YEARS`] years on.
fn set_validity(params: &mut CertificateParams) {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let year = 1970 + i32::try_from(seconds / 31_556_952).unwrap_or(0);
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + VALID_YEARS, 1, 1);
}

fn write_file(path: &Path, contents: &str, private: bool) -> Result<PathBuf, String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path.to_path_buf())
}
