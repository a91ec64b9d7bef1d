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

use crate::{
    args::CertsArgs,
    error::{CliError, EXIT_OK},
};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// How long the certificates are valid, in years from the start of this year.
const VALID_YEARS: i32 = 10;

/// The provinces `gongji certs` makes certificates for by default: the
/// devnet's (its --provinces default).
const DEVNET_PROVINCES: [&str; 5] = ["13", "32", "34", "37", "41"];

/// `gongji certs`: writes a development CA and every certificate of a
/// network, or (with --add) certificates for more provinces from the CA
/// already there.
pub fn command(args: CertsArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    let has_ca = args.out.join("ca.pem").exists();
    if has_ca && !args.force && !args.add {
        return Err(CliError::Other(format!(
            "{} already holds a CA (ca.pem): give --add to issue certificates for more provinces from it, or --force to replace \
             it and every certificate (servers using the old ones need the new ones and a restart)",
            args.out.display()
        )));
    }
    if args.add && !has_ca {
        return Err(CliError::Other(format!(
            "{} holds no CA (ca.pem) to add certificates from: run gongji certs without --add first",
            args.out.display()
        )));
    }
    let provinces = match (args.provinces.is_empty(), args.add) {
        (true, true) => return Err(CliError::Usage("--add needs --provinces: which provinces join".into())),
        (true, false) => DEVNET_PROVINCES
            .iter()
            .map(|code| ProvinceCode::parse("province", code).map_err(|e| CliError::Other(e.to_string())))
            .collect::<Result<_, _>>()?,
        (false, _) => args.provinces,
    };
    crate::args::check_provinces(&provinces)?;
    let spec = CertsSpec {
        provinces,
        hosts: args.hosts,
    };
    let written = if args.add {
        add_provinces(&args.out, &spec)
    } else {
        write(&args.out, &spec)
    }
    .map_err(CliError::Other)?;
    for path in &written {
        writeln!(out, "{}", path.display())?;
    }
    if args.add {
        writeln!(
            out,
            "{} files: {} province nodes, issued by the CA in {}",
            written.len(),
            spec.provinces.len(),
            args.out.display()
        )?;
    } else {
        writeln!(
            out,
            "{} files: a development CA, the hub, {} province nodes and a client certificate",
            written.len(),
            spec.provinces.len()
        )?;
    }
    Ok(EXIT_OK)
}

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

/// The file that lists the extra host names the servers' certificates
/// carry (one per line), so a changed list is noticed.
const HOSTS_FILE: &str = "hosts.txt";

/// True when `dir` holds a complete set for `spec` (the CA, the hub, every
/// province and the client, for the same extra host names).
pub fn complete(dir: &Path, spec: &CertsSpec) -> bool {
    let mut names = vec!["hub".to_owned(), "client".to_owned()];
    names.extend(spec.provinces.iter().map(|code| province_file(*code)));
    let hosts = std::fs::read_to_string(dir.join(HOSTS_FILE)).unwrap_or_default();
    dir.join("ca.pem").is_file()
        && hosts.lines().map(str::to_owned).collect::<Vec<_>>() == spec.hosts
        && names.iter().all(|name| {
            let files = tls::TlsFiles::in_dir(dir, name);
            files.cert.is_file() && files.key.is_file()
        })
}

/// Writes a fresh CA and every certificate of `spec` into `dir` (created if
/// missing), replacing any files of the same names. Returns the files written.
pub fn write(dir: &Path, spec: &CertsSpec) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let ca_key = KeyPair::generate().map_err(generated)?;
    let ca = ca_params();
    let ca_cert = ca.self_signed(&ca_key).map_err(generated)?;
    let mut written = vec![write_file(&dir.join("ca.pem"), &ca_cert.pem(), false)?];
    written.push(write_file(&dir.join("ca.key"), &ca_key.serialize_pem(), true)?);
    let issuer = Issuer::new(ca, ca_key);

    let mut parties = vec![Party::server("hub", "Gongji national hub", tls::HUB_NAME)];
    parties.extend(spec.provinces.iter().map(|code| Party::province(*code)));
    parties.push(Party {
        file: "client".into(),
        common_name: "Gongji client".into(),
        names: vec![tls::CLIENT_NAME.into()],
        serves: false,
    });
    for party in parties {
        written.extend(issue(dir, &issuer, &party, &spec.hosts)?);
    }
    let hosts: String = spec.hosts.iter().map(|host| format!("{host}\n")).collect();
    written.push(write_file(&dir.join(HOSTS_FILE), &hosts, false)?);
    Ok(written)
}

/// Issues certificates for more provinces with the CA already in `dir`
/// (its `ca.key`): a province joining a running network. Returns the files
/// written.
pub fn add_provinces(dir: &Path, spec: &CertsSpec) -> Result<Vec<PathBuf>, String> {
    if let Some(existing) = spec
        .provinces
        .iter()
        .map(|code| dir.join(format!("{}.pem", province_file(*code))))
        .find(|path| path.exists())
    {
        return Err(format!(
            "{} exists: --add issues certificates for provinces that have none",
            existing.display()
        ));
    }
    let issuer = existing_issuer(dir)?;
    let mut written = Vec::new();
    for code in &spec.provinces {
        written.extend(issue(dir, &issuer, &Party::province(*code), &spec.hosts)?);
    }
    Ok(written)
}

/// Issues one certificate of any names with the CA in `dir` (tests use it
/// for certificates the network would never issue).
pub fn issue_odd(dir: &Path, file: &str, names: &[&str], serves: bool) -> Result<Vec<PathBuf>, String> {
    let party = Party {
        file: file.into(),
        common_name: format!("Gongji {file}"),
        names: names.iter().map(|n| (*n).to_owned()).collect(),
        serves,
    };
    issue(dir, &existing_issuer(dir)?, &party, &[])
}

fn generated(e: rcgen::Error) -> String {
    format!("generating a certificate: {e}")
}

/// The development CA's parameters (its subject, constraints and usages).
fn ca_params() -> CertificateParams {
    let mut ca = CertificateParams::default();
    ca.distinguished_name.push(DnType::CommonName, "Gongji development CA");
    ca.distinguished_name.push(DnType::OrganizationName, "Gongji");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    set_validity(&mut ca);
    ca
}

/// The CA of `dir`, from its key (the subject is always the development CA's).
fn existing_issuer(dir: &Path) -> Result<Issuer<'static, KeyPair>, String> {
    let path = dir.join("ca.key");
    let pem = std::fs::read_to_string(&path).map_err(|e| format!("cannot read the CA's key {}: {e}", path.display()))?;
    let key = KeyPair::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Issuer::new(ca_params(), key))
}

/// Who a certificate is for.
struct Party {
    /// File name without extension: `hub`, `province-32`, `client`.
    file: String,
    common_name: String,
    /// Its identity names (servers also get localhost, 127.0.0.1 and --host).
    names: Vec<String>,
    /// A server (both ends of a link) rather than a client only.
    serves: bool,
}

impl Party {
    fn server(file: &str, common_name: &str, name: &str) -> Party {
        Party {
            file: file.into(),
            common_name: common_name.into(),
            names: vec![name.into()],
            serves: true,
        }
    }

    fn province(code: ProvinceCode) -> Party {
        Party::server(&province_file(code), &format!("Gongji province {code}"), &tls::province_name(code))
    }
}

/// Writes `party`'s certificate and key, signed by `issuer`.
fn issue(dir: &Path, issuer: &Issuer<'_, KeyPair>, party: &Party, hosts: &[String]) -> Result<Vec<PathBuf>, String> {
    let mut names = party.names.clone();
    if party.serves {
        names.extend(["localhost".to_owned(), "127.0.0.1".to_owned()]);
        names.extend(hosts.iter().cloned());
    }
    let mut params = CertificateParams::new(names).map_err(|e| format!("{}: {e}", party.file))?;
    params.distinguished_name.push(DnType::CommonName, party.common_name.clone());
    params.distinguished_name.push(DnType::OrganizationName, "Gongji");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = if party.serves {
        vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth]
    } else {
        vec![ExtendedKeyUsagePurpose::ClientAuth]
    };
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params);
    let key = KeyPair::generate().map_err(generated)?;
    let cert = params.signed_by(&key, issuer).map_err(generated)?;
    Ok(vec![
        write_file(&dir.join(format!("{}.pem", party.file)), &cert.pem(), false)?,
        write_file(&dir.join(format!("{}.key", party.file)), &key.serialize_pem(), true)?,
    ])
}

/// Valid from the start of last year (so a clock a little behind still
/// accepts them) to [`VALID_YEARS`] years on.
fn set_validity(params: &mut CertificateParams) {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let year = 1970 + i32::try_from(seconds / 31_556_952).unwrap_or(0);
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + VALID_YEARS, 1, 1);
}

/// Writes `path` whole or not at all: a fresh temporary file beside it
/// (readable by its owner only when `private`), synced, then renamed over
/// it, so a key that was readable by others before is not any more.
pub fn write_file(path: &Path, contents: &str, private: bool) -> Result<PathBuf, String> {
    let failed = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let temporary = path.with_extension(format!("{}.new", path.extension().and_then(|e| e.to_str()).unwrap_or_default()));
    match std::fs::remove_file(&temporary) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(failed(e)),
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(&temporary).map_err(failed)?;
    file.write_all(contents.as_bytes()).and_then(|()| file.sync_all()).map_err(failed)?;
    std::fs::rename(&temporary, path).map_err(failed)?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_is_complete_only_for_the_same_provinces_and_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let code = |c: &str| ProvinceCode::parse("p", c).unwrap();
        let spec = CertsSpec {
            provinces: vec![code("13")],
            hosts: vec!["node.example".into()],
        };
        assert!(!complete(dir.path(), &spec));
        write(dir.path(), &spec).unwrap();
        assert!(complete(dir.path(), &spec));
        let other_host = CertsSpec {
            hosts: vec!["192.0.2.2".into()],
            ..spec.clone()
        };
        assert!(!complete(dir.path(), &other_host), "a changed --host makes them again");
        let more = CertsSpec {
            provinces: vec![code("13"), code("41")],
            ..spec
        };
        assert!(!complete(dir.path(), &more));
    }
}
