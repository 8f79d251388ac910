//! `DATA_DIR/clouds.yaml`: the admin's cloud entry `nimbus`, so that
//! `OS_CLIENT_CONFIG_FILE=DATA_DIR/clouds.yaml openstack --os-cloud nimbus …` works.
//! Strings are written JSON-quoted, which YAML reads as they are.

use std::path::Path;

/// What goes into the file.
pub struct CloudEntry<'a> {
    pub auth_url: &'a str,
    pub password: &'a str,
    pub cacert: Option<&'a str>,
}

/// Renders the file.
pub fn render(e: &CloudEntry) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("string");
    let mut out = format!(
        "# Written by `nimbus serve`: the cloud admin, scoped to the admin project.\n\
         clouds:\n  nimbus:\n    auth_type: password\n    auth:\n      auth_url: {}\n      \
         username: \"admin\"\n      password: {}\n      project_name: \"admin\"\n      \
         user_domain_name: \"Default\"\n      project_domain_name: \"Default\"\n    \
         region_name: \"RegionOne\"\n    interface: \"public\"\n    identity_api_version: 3\n",
        q(e.auth_url),
        q(e.password)
    );
    if let Some(ca) = e.cacert {
        out.push_str(&format!("    cacert: {}\n", q(ca)));
    }
    out
}

/// The admin password a previous start wrote, if any.
pub fn existing_password(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .and_then(|v| serde_json::from_str::<String>(v).ok())
}

/// Writes the file readable by its owner only (it holds a password).
pub fn write(path: &Path, e: &CloudEntry) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("yaml.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(render(e).as_bytes())?;
    f.sync_all()?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_round_trips_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("clouds.yaml");
        let tricky = "pa\"ss: w#rd\\";
        write(
            &p,
            &CloudEntry {
                auth_url: "http://127.0.0.1:8080/identity",
                password: tricky,
                cacert: None,
            },
        )
        .unwrap();
        assert_eq!(existing_password(&p).as_deref(), Some(tricky));
        assert!(std::fs::read_to_string(&p)
            .unwrap()
            .contains("auth_url: \"http://127.0.0.1:8080/identity\""));
    }
}
