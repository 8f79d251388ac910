//! `PATCH /v2/images/{id}`: JSON patch in Glance's media types.
//!
//! - `application/openstack-images-v2.1-json-patch`: `[{"op", "path", "value"}]`
//!   with `op` one of `add` (sets, also an existing attribute), `replace` (the
//!   attribute must exist: 409 otherwise) and `remove` (free-form properties only:
//!   409 when absent, 403 for fields);
//! - `application/openstack-images-v2.0-json-patch`: the older `[{"replace":
//!   "/name", "value": ...}]` form, where `add` of something present is a 409.
//!
//! Paths are JSON pointers of one segment (`/name`, `/os_distro`, `/tags`); tags also
//! take `/tags/<index>` and `/tags/-`, which openstacksdk generates. Any other media
//! type is a 415.

use super::attrs::{self, BASE};
use super::common::{load, save};
use super::images::authorize_ownership;
use super::views;
use crate::types::Image;
use crate::Images;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use bytes::Bytes;
use nimbus_api::auth::Auth;
use nimbus_api::{ApiError, ApiResult};
use serde_json::Value;
use std::sync::Arc;

/// The JSON-patch media type openstacksdk and OSC send.
pub const PATCH_V21: &str = "application/openstack-images-v2.1-json-patch";
/// The older draft-4 style patch.
pub const PATCH_V20: &str = "application/openstack-images-v2.0-json-patch";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

/// One decoded operation.
#[derive(Debug)]
struct Change {
    op: Op,
    path: Vec<String>,
    value: Option<Value>,
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(msg)
}

fn op_named(name: &str) -> ApiResult<Op> {
    match name {
        "add" => Ok(Op::Add),
        "replace" => Ok(Op::Replace),
        "remove" => Ok(Op::Remove),
        other => Err(bad(format!(
            "Invalid operation: `{other}`: only add, replace and remove are supported."
        ))),
    }
}

/// Decodes a JSON pointer as Glance accepts it.
fn decode_pointer(pointer: &str) -> ApiResult<Vec<String>> {
    if !pointer.starts_with('/') {
        return Err(bad(format!(
            "Pointer `{pointer}` does not start with \"/\"."
        )));
    }
    if pointer.len() > 1 && pointer.ends_with('/') {
        return Err(bad(format!("Pointer `{pointer}` end with \"/\".")));
    }
    if pointer[1..].contains("//") {
        return Err(bad(format!("Pointer `{pointer}` contains adjacent \"/\".")));
    }
    let bad_escape = pointer
        .match_indices('~')
        .any(|(i, _)| !matches!(pointer.as_bytes().get(i + 1), Some(b'0' | b'1')));
    if bad_escape {
        return Err(bad(format!(
            "Pointer `{pointer}` contains \"~\" not part of a recognized escape sequence."
        )));
    }
    Ok(pointer[1..]
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn decode_change(raw: &Value, draft4: bool) -> ApiResult<Change> {
    let Value::Object(o) = raw else {
        return Err(bad("Operations must be JSON objects."));
    };
    let (op, pointer) = if draft4 {
        let named: Vec<&str> = ["add", "replace", "remove"]
            .into_iter()
            .filter(|k| o.contains_key(*k))
            .collect();
        let [name] = named[..] else {
            return Err(bad(
                "Operation objects must contain exactly one member named \"add\", \"remove\", or \"replace\".",
            ));
        };
        (op_named(name)?, o.get(name))
    } else {
        let name = o
            .get("op")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("Unable to find 'op' in JSON Schema change"))?;
        (op_named(name)?, o.get("path"))
    };
    let pointer = pointer
        .and_then(Value::as_str)
        .ok_or_else(|| bad("Unable to find 'path' in JSON Schema change"))?;
    let value = o.get("value").cloned();
    if op != Op::Remove && value.is_none() {
        return Err(bad(format!(
            "Operation \"{}\" requires a member named \"value\".",
            if op == Op::Add { "add" } else { "replace" }
        )));
    }
    Ok(Change {
        op,
        path: decode_pointer(pointer)?,
        value,
    })
}

fn apply(image: &mut Image, c: &Change, draft4: bool) -> ApiResult<()> {
    let root = c.path[0].as_str();
    attrs::check_writable(root)?;
    let value = c.value.as_ref().unwrap_or(&Value::Null);
    let exists = BASE.contains(&root) || image.properties.contains_key(root);
    match (c.path.len(), c.op) {
        (1, Op::Add) if draft4 && exists => Err(ApiError::conflict(format!(
            "Property {root} already present."
        ))),
        (1, Op::Add) => attrs::set(image, root, value),
        (1, Op::Replace) if !exists => Err(ApiError::conflict(format!(
            "Property {root} does not exist."
        ))),
        (1, Op::Replace) => attrs::set(image, root, value),
        (1, Op::Remove) if BASE.contains(&root) => Err(ApiError::forbidden(format!(
            "Property {root} may not be removed."
        ))),
        (1, Op::Remove) => match image.properties.remove(root) {
            Some(_) => Ok(()),
            None => Err(ApiError::conflict(format!(
                "Property {root} does not exist."
            ))),
        },
        (2, _) if root == "tags" => apply_tag(image, c.op, &c.path[1], value),
        _ => Err(bad(format!(
            "Invalid JSON pointer for this resource: '/{}'",
            c.path.join("/")
        ))),
    }
}

/// `/tags/<index>` and `/tags/-` operations.
fn apply_tag(image: &mut Image, op: Op, index: &str, value: &Value) -> ApiResult<()> {
    let len = image.tags.len();
    let position = match (index, index.parse::<usize>()) {
        ("-", _) if op == Op::Add => len,
        (_, Ok(i)) if i < len || (op == Op::Add && i == len) => i,
        _ => return Err(bad(format!("Invalid position for tags: '{index}'."))),
    };
    match op {
        Op::Add => {
            let t = attrs::tag(value)?;
            if !image.tags.contains(&t) {
                image.tags.insert(position, t);
            }
        }
        Op::Replace => {
            let t = attrs::tag(value)?;
            image.tags.remove(position);
            if !image.tags.contains(&t) {
                image.tags.insert(position, t);
            }
        }
        Op::Remove => {
            image.tags.remove(position);
        }
    }
    Ok(())
}

/// Decodes a patch document sent as `content_type`.
fn decode(content_type: &str, body: &[u8]) -> ApiResult<(Vec<Change>, bool)> {
    let draft4 = match content_type {
        PATCH_V21 => false,
        PATCH_V20 => true,
        other => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Type {other:?} is not supported; send {PATCH_V21}."),
            ))
        }
    };
    let doc: Value = nimbus_api::body::decode(body)?;
    let Value::Array(ops) = doc else {
        return Err(bad("The patch must be a JSON array of operations."));
    };
    let changes = ops
        .iter()
        .map(|raw| decode_change(raw, draft4))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok((changes, draft4))
}

pub async fn update(
    State(svc): State<Arc<Images>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let (changes, draft4) = decode(&content_type, &body)?;
    let (mut image, revision, _) = load(&svc, &caller, "image:modify_image", &id).await?;
    let (old_owner, old_visibility) = (image.owner.clone(), image.visibility);
    for change in &changes {
        apply(&mut image, change, draft4)?;
    }
    attrs::check_limits(&image)?;
    authorize_ownership(&caller, &image, old_owner.as_deref(), Some(old_visibility))?;
    if !changes.is_empty() {
        save(&svc, &caller, "image.image.update", &mut image, revision).await?;
    }
    Ok(Json(views::image(&image)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(image: &mut Image, ops: Value) -> ApiResult<()> {
        let (changes, draft4) = decode(PATCH_V21, ops.to_string().as_bytes())?;
        changes.iter().try_for_each(|c| apply(image, c, draft4))
    }

    #[test]
    fn pointers_follow_glance_rules() {
        assert_eq!(decode_pointer("/a~1b~0c").unwrap(), ["a/b~c"]);
        for bad in ["name", "/a//b", "/a/", "/a~2"] {
            assert_eq!(decode_pointer(bad).unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn ops_on_fields_properties_and_tags() {
        let mut i = Image::new("x".into(), None);
        run(
            &mut i,
            json!([{"op": "add", "path": "/os_distro", "value": "nimbus"},
                           {"op": "replace", "path": "/name", "value": "n"},
                           {"op": "add", "path": "/tags/-", "value": "a"},
                           {"op": "add", "path": "/tags/0", "value": "b"}]),
        )
        .unwrap();
        assert_eq!(i.property("os_distro"), Some("nimbus"));
        assert_eq!(i.tags, ["b", "a"]);
        let code = |i: &mut Image, ops| run(i, ops).unwrap_err().status.as_u16();
        assert_eq!(
            code(
                &mut i,
                json!([{"op": "replace", "path": "/nope", "value": "v"}])
            ),
            409
        );
        assert_eq!(
            code(&mut i, json!([{"op": "remove", "path": "/nope"}])),
            409
        );
        assert_eq!(
            code(&mut i, json!([{"op": "remove", "path": "/name"}])),
            403
        );
        assert_eq!(
            code(
                &mut i,
                json!([{"op": "add", "path": "/status", "value": "active"}])
            ),
            403
        );
        assert_eq!(
            code(
                &mut i,
                json!([{"op": "test", "path": "/name", "value": "n"}])
            ),
            400
        );
        assert_eq!(code(&mut i, json!([{"op": "add", "path": "/name"}])), 400);
        assert_eq!(
            code(&mut i, json!([{"op": "add", "path": "/a/b", "value": "v"}])),
            400
        );
        assert_eq!(code(&mut i, json!({"op": "add"})), 400);
        run(&mut i, json!([{"op": "remove", "path": "/os_distro"}])).unwrap();
        assert!(i.properties.is_empty());
    }

    #[test]
    fn draft4_add_of_present_attribute_conflicts() {
        let mut i = Image::new("x".into(), None);
        let (changes, draft4) = decode(PATCH_V20, br#"[{"add": "/name", "value": "n"}]"#).unwrap();
        assert_eq!(apply(&mut i, &changes[0], draft4).unwrap_err().status, 409);
        assert_eq!(decode("application/json", b"[]").unwrap_err().status, 415);
    }
}
