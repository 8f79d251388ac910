//! Version discovery: `GET /network` (the versions document), `GET /network/v2.0`
//! (the resources), and `/network/v2.0/extensions`: the extensions whose
//! behaviour this service implements (clients check some before using a feature).

use super::common::PREFIX;
use crate::error::{Fault, NResult};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use nimbus_api::links::PublicUrl;
use serde_json::{json, Value};

pub async fn versions(url: PublicUrl) -> Json<Value> {
    Json(json!({"versions": [{
        "id": "v2.0",
        "status": "CURRENT",
        "links": [{"rel": "self", "href": url.join(&format!("{PREFIX}/"))}],
    }]}))
}

const RESOURCES: &[(&str, &str)] = &[
    ("network", "networks"),
    ("subnet", "subnets"),
    ("port", "ports"),
    ("security_group", "security-groups"),
    ("security_group_rule", "security-group-rules"),
    ("quota", "quotas"),
    ("router", "routers"),
    ("floatingip", "floatingips"),
    ("rbac_policy", "rbac-policies"),
];

pub async fn resources(url: PublicUrl) -> Json<Value> {
    let list: Vec<Value> = RESOURCES
        .iter()
        .map(|(name, collection)| {
            json!({"name": name, "collection": collection,
                   "links": [{"rel": "self", "href": url.join(&format!("{PREFIX}/{collection}"))}]})
        })
        .collect();
    Json(json!({ "resources": list }))
}

/// alias, name, description.
const EXTENSIONS: &[(&str, &str, &str)] = &[
    ("security-group", "security-group", "The security groups extension."),
    ("standard-attr-tag", "Tag support for resources with standard attribute: network, subnet, port, security_group", "Enables to set tag on resources with standard attribute."),
    ("standard-attr-description", "standard-attr-description", "Extension to add descriptions to standard attributes"),
    ("standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes."),
    ("standard-attr-revisions", "Resource revision numbers", "This extension will display the revision number of neutron resources."),
    ("project-id", "project_id field enabled", "Extension that indicates that project_id field is enabled."),
    ("port-security", "Port Security", "Provides port security"),
    ("allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs"),
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external application"),
    ("external-net", "Neutron external network", "Adds external network attribute to network resource."),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("stateful-security-group", "Stateful security group", "Indicates if the security group is stateful or not"),
    ("quotas", "Quota management support", "Expose functions for quotas management per project"),
    ("quota_details", "Quota details extension", "Expose functions for quotas usage statistics per project"),
    ("router", "Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway."),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode", "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway"),
    ("extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router"),
    ("rbac-policies", "RBAC Policies", "Allows creation and modification of policies that control tenant access to resources."),
    ("sorting", "Sorting support", "Enabled sorting support."),
    ("pagination", "Pagination support", "Extension that indicates that pagination is enabled."),
];

fn extension(alias: &str, name: &str, description: &str) -> Value {
    json!({"alias": alias, "name": name, "description": description,
           "updated": "2013-01-01T10:00:00-00:00", "links": []})
}

pub async fn extensions() -> Json<Value> {
    let list: Vec<Value> = EXTENSIONS
        .iter()
        .map(|(a, n, d)| extension(a, n, d))
        .collect();
    Json(json!({ "extensions": list }))
}

pub async fn show_extension(Path(alias): Path<String>) -> NResult<Json<Value>> {
    EXTENSIONS
        .iter()
        .find(|(a, _, _)| *a == alias)
        .map(|(a, n, d)| Json(json!({"extension": extension(a, n, d)})))
        .ok_or_else(|| {
            Fault::new(
                StatusCode::NOT_FOUND,
                "HTTPNotFound",
                format!("Extension with alias {alias} does not exist"),
            )
        })
}
