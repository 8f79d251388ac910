//! Key material for keypairs: validating imported SSH public keys and X.509
//! certificates, their fingerprints as Nova computes them (MD5 of the SSH key blob,
//! SHA-1 of the certificate's DER, both as colon-separated hex), and generating a
//! new SSH key pair (Ed25519, OpenSSH format, so `ssh-keygen -y` reads it).

use md5::{Digest, Md5};
use ssh_key::{Algorithm, LineEnding, PrivateKey, PublicKey};

/// The longest public key or certificate accepted.
pub const MAX_PUBLIC_KEY_BYTES: usize = 16 * 1024;

/// A key that is not what it claims to be; the message completes Nova's
/// "Keypair data is invalid: ...".
#[derive(Debug, PartialEq, Eq)]
pub struct InvalidKey(pub String);

/// A freshly generated key pair.
pub struct Generated {
    /// OpenSSH private key (`-----BEGIN OPENSSH PRIVATE KEY-----`), shown once.
    pub private_key: String,
    /// `ssh-ed25519 AAAA... Generated-by-Nimbus`
    pub public_key: String,
    pub fingerprint: String,
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Validates an OpenSSH public key line (`type base64 [comment]`) and returns its
/// MD5 fingerprint, as `ssh-keygen -l -E md5` prints it (without the `MD5:` prefix).
pub fn ssh_fingerprint(public_key: &str) -> Result<String, InvalidKey> {
    let failed = || InvalidKey("failed to generate fingerprint".into());
    if public_key.len() > MAX_PUBLIC_KEY_BYTES {
        return Err(InvalidKey("the public key is too long".into()));
    }
    let line = public_key.trim();
    let parsed = PublicKey::from_openssh(line).map_err(|_| failed())?;
    let blob_b64 = line.split_whitespace().nth(1).ok_or_else(failed)?;
    let blob = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, blob_b64)
        .map_err(|_| failed())?;
    // The blob must be exactly the key that was parsed (no trailing garbage).
    if parsed.to_bytes().map_err(|_| failed())? != blob {
        return Err(failed());
    }
    Ok(colon_hex(&Md5::digest(&blob)))
}

/// Validates a PEM X.509 certificate and returns its SHA-1 fingerprint. The PEM
/// armour is taken off first and the DER decoded on its own (der's streaming PEM
/// reader loops forever on some truncated input).
pub fn x509_fingerprint(pem: &str) -> Result<String, InvalidKey> {
    use sha1::Sha1;
    use x509_cert::der::Decode;
    let failed = |e: &dyn std::fmt::Display| {
        InvalidKey(format!(
            "failed to generate X509 fingerprint. Error message: {e}"
        ))
    };
    if pem.len() > MAX_PUBLIC_KEY_BYTES {
        return Err(InvalidKey("the certificate is too long".into()));
    }
    let (label, der) =
        x509_cert::der::pem::decode_vec(pem.trim().as_bytes()).map_err(|e| failed(&e))?;
    if label != "CERTIFICATE" {
        return Err(failed(&format!("expected a CERTIFICATE, got {label}")));
    }
    x509_cert::Certificate::from_der(&der).map_err(|e| failed(&e))?;
    Ok(colon_hex(&Sha1::digest(&der)))
}

/// Generates an Ed25519 key pair.
pub fn generate_ssh() -> Result<Generated, InvalidKey> {
    let failed = |e: ssh_key::Error| InvalidKey(format!("key generation failed: {e}"));
    let mut private =
        PrivateKey::random(&mut rand::rngs::OsRng, Algorithm::Ed25519).map_err(failed)?;
    private.set_comment("Generated-by-Nimbus");
    let public_key = private.public_key().to_openssh().map_err(failed)?;
    let private_key = private.to_openssh(LineEnding::LF).map_err(failed)?;
    let fingerprint = ssh_fingerprint(&public_key)?;
    Ok(Generated {
        private_key: private_key.to_string(),
        public_key,
        fingerprint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // A key made for this test and its `ssh-keygen -l -E md5`; a certificate made
    // with `openssl req -x509` and its `openssl x509 -fingerprint -sha1`.
    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIItk5LhQlvRGdQ+NfGc7cR2iIJrcko7azgQ+itu+Zo8m test@nimbus";
    const KEY_MD5: &str = "99:94:d8:66:3a:4b:3b:f4:d6:f4:6e:d7:b5:3c:86:af";
    const CERT: &str = include_str!("testdata/cert.pem");
    const CERT_SHA1: &str = "cc:e2:bb:d4:29:91:b1:25:8a:45:ea:64:05:b3:02:23:2a:7c:94:f0";

    #[test]
    fn fingerprints_match_ssh_keygen_and_openssl() {
        assert_eq!(ssh_fingerprint(KEY).as_deref(), Ok(KEY_MD5));
        assert_eq!(ssh_fingerprint(&format!("{KEY}\n")).as_deref(), Ok(KEY_MD5));
        assert_eq!(x509_fingerprint(CERT).as_deref(), Ok(CERT_SHA1));
    }

    #[test]
    fn garbage_is_refused() {
        for bad in [
            "",
            "garbage",
            "ssh-ed25519",
            "ssh-ed25519 !!!notbase64",
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIItk5LhQlvRGdQ+NfGc7cR2iIJrcko7azgQ+itu+Zo8m",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIItk5LhQlvRGdQ+NfGc7cR2iIJrcko7azgQ",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIItk5LhQlvRGdQ+NfGc7cR2iIJrcko7azgQ+itu+Zo8mAAAA",
        ] {
            assert!(ssh_fingerprint(bad).is_err(), "{bad:?}");
        }
        for bad in [
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
            "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----",
            &CERT[..CERT.len() / 2],
            KEY,
        ] {
            assert!(x509_fingerprint(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn generated_keys_round_trip() {
        let g = generate_ssh().expect("generate");
        assert!(g
            .private_key
            .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        assert!(g.public_key.starts_with("ssh-ed25519 "));
        let back = PrivateKey::from_openssh(&g.private_key).expect("parse");
        assert_eq!(back.public_key().to_openssh().unwrap(), g.public_key);
        assert_eq!(ssh_fingerprint(&g.public_key), Ok(g.fingerprint));
    }
}
