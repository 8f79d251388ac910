//! How flavors look on the wire, per microversion: `description` from 2.55,
//! `extra_specs` from 2.61, `swap` as `""` (when 0) below 2.75 and an integer from it.

use super::common::links;
use crate::types::Flavor;
use nimbus_api::links::PublicUrl;
use nimbus_api::microversion::Microversion;
use serde_json::{json, Value};

/// The `GET /flavors` item.
pub fn flavor_brief(url: &PublicUrl, mv: Microversion, f: &Flavor) -> Value {
    let mut v = json!({
        "id": f.id,
        "name": f.name,
        "links": links(url, "flavors", &f.id),
    });
    if mv.at_least(2, 55) {
        v["description"] = json!(f.description);
    }
    v
}

/// The full flavor (`/flavors/detail` items, show, create, update).
pub fn flavor(url: &PublicUrl, mv: Microversion, f: &Flavor) -> Value {
    let swap = if mv.at_least(2, 75) || f.swap != 0 {
        json!(f.swap)
    } else {
        json!("")
    };
    let mut v = json!({
        "id": f.id,
        "name": f.name,
        "ram": f.ram,
        "disk": f.disk,
        "swap": swap,
        "OS-FLV-EXT-DATA:ephemeral": f.ephemeral,
        "OS-FLV-DISABLED:disabled": f.disabled,
        "vcpus": f.vcpus,
        "os-flavor-access:is_public": f.is_public,
        "rxtx_factor": f.rxtx_factor,
        "links": links(url, "flavors", &f.id),
    });
    if mv.at_least(2, 55) {
        v["description"] = json!(f.description);
    }
    // Extra specs are readable by everyone (`compute:os-flavor-extra-specs:index`).
    if mv.at_least(2, 61) {
        v["extra_specs"] = json!(f.extra_specs);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimbus_api::microversion::Version;

    #[test]
    fn fields_follow_the_microversion() {
        let f = crate::seed::standard_flavors().remove(0);
        let url = PublicUrl::new("http://x");
        let at = |minor| Microversion(Version::new(2, minor));
        let v = flavor(&url, at(1), &f);
        assert_eq!(v["swap"], "");
        assert!(v.get("description").is_none() && v.get("extra_specs").is_none());
        let v = flavor(&url, at(61), &f);
        assert_eq!(v["extra_specs"]["scs:name-v2"], "SCS-1V-4");
        assert!(v["description"].is_null());
        assert_eq!(flavor(&url, at(75), &f)["swap"], 0);
        assert_eq!(
            v["links"][0]["href"],
            "http://x/compute/v2.1/flavors/SCS-1V-4"
        );
        assert_eq!(flavor_brief(&url, at(55), &f).as_object().unwrap().len(), 4);
    }
}
