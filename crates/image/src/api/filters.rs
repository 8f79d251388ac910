//! The filters of `GET /v2/images`, as Glance reads them from the query string:
//! `name`, `id`, `status`, `disk_format`, `container_format` (each also as
//! `in:a,b,"c,d"`), `owner`, `tag` (repeatable: all must be present), `protected`,
//! `os_hidden` (hidden images are left out unless `os_hidden=true`), `size_min`,
//! `size_max`, `created_at`/`updated_at` with `gt:`/`gte:`/`lt:`/`lte:`/`eq:`/`neq:`,
//! and any other key as a free-form property that must equal the value.
//! `visibility` and `member_status` decide what is visible at all ([`crate::access`]).

use crate::access::VisibilityFilter;
use crate::types::{Image, MemberStatus, Visibility, STATUS_NAMES};
use chrono::{DateTime, NaiveDateTime, Utc};
use nimbus_api::query::{parse_bool, Query};
use nimbus_api::{ApiError, ApiResult};

/// Query keys that are not property filters.
pub const KNOWN: &[&str] = &[
    "limit",
    "marker",
    "sort",
    "sort_key",
    "sort_dir",
    "name",
    "id",
    "status",
    "visibility",
    "member_status",
    "owner",
    "tag",
    "os_hidden",
    "protected",
    "size_min",
    "size_max",
    "disk_format",
    "container_format",
    "created_at",
    "updated_at",
];

/// Fields that take the `in:` operator.
const IN_FIELDS: &[&str] = &["name", "id", "status", "disk_format", "container_format"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmp {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
}

/// Every filter of one list request.
#[derive(Debug)]
pub struct Filters {
    pub visibility: VisibilityFilter,
    /// Membership statuses that make a shared image listed (`None`: any).
    pub member_status: Option<MemberStatus>,
    fields: Vec<(String, Vec<String>)>,
    owner: Option<String>,
    tags: Vec<String>,
    hidden: bool,
    protected: Option<bool>,
    size_min: Option<u64>,
    size_max: Option<u64>,
    times: Vec<(String, Cmp, DateTime<Utc>)>,
    properties: Vec<(String, String)>,
}

/// The values of `in:a,b,"c,d"` (double quotes protect commas), or the value itself.
pub fn in_values(v: &str) -> Vec<String> {
    let Some(list) = v.strip_prefix("in:") else {
        return vec![v.to_string()];
    };
    let (mut out, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    for c in list.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn parse_time(key: &str, v: &str) -> ApiResult<(Cmp, DateTime<Utc>)> {
    let (cmp, raw) = match v.split_once(':') {
        Some((op, rest)) if op.chars().all(|c| c.is_ascii_alphabetic()) => {
            let cmp = match op {
                "eq" => Cmp::Eq,
                "neq" => Cmp::Neq,
                "gt" => Cmp::Gt,
                "gte" => Cmp::Gte,
                "lt" => Cmp::Lt,
                "lte" => Cmp::Lte,
                _ => return Err(ApiError::bad_request(format!("Invalid operator: {op}"))),
            };
            (cmp, rest)
        }
        _ => (Cmp::Eq, v),
    };
    let t = DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S").map(|t| t.and_utc()))
        .map_err(|_| ApiError::bad_request(format!("Invalid time format for {key}: {raw}")))?;
    Ok((cmp, t))
}

fn parse_u64(key: &str, v: &str) -> ApiResult<u64> {
    v.parse()
        .map_err(|_| ApiError::bad_request(format!("Invalid value for {key}: {v}")))
}

fn parse_flag(key: &str, v: &str) -> ApiResult<Option<bool>> {
    parse_bool(v).map_err(|_| ApiError::bad_request(format!("Invalid value for {key}: {v}")))
}

impl Filters {
    pub fn parse(q: &Query) -> ApiResult<Filters> {
        let visibility =
            match q.get("visibility") {
                None => VisibilityFilter::Default,
                Some("all") => VisibilityFilter::All,
                Some(v) => VisibilityFilter::Only(Visibility::parse(v).ok_or_else(|| {
                    ApiError::bad_request(format!("Invalid visibility value: {v}"))
                })?),
            };
        let member_status = match q.get("member_status") {
            None => Some(MemberStatus::Accepted),
            Some("all") => None,
            Some(s) => Some(
                MemberStatus::parse(s)
                    .ok_or_else(|| ApiError::bad_request(format!("Invalid status value: {s}")))?,
            ),
        };
        let mut fields = Vec::new();
        for key in IN_FIELDS {
            if let Some(v) = q.get(key) {
                let values = in_values(v);
                if *key == "status" {
                    if let Some(bad) = values.iter().find(|s| !STATUS_NAMES.contains(&s.as_str())) {
                        return Err(ApiError::bad_request(format!(
                            "Invalid status value: {bad}"
                        )));
                    }
                }
                fields.push((key.to_string(), values));
            }
        }
        let mut times = Vec::new();
        for key in ["created_at", "updated_at"] {
            if let Some(v) = q.get(key) {
                let (cmp, t) = parse_time(key, v)?;
                times.push((key.to_string(), cmp, t));
            }
        }
        Ok(Filters {
            visibility,
            member_status,
            fields,
            owner: q.get("owner").map(str::to_string),
            tags: q
                .0
                .iter()
                .filter(|(k, v)| k == "tag" && !v.is_empty())
                .map(|(_, v)| v.clone())
                .collect(),
            hidden: q
                .get("os_hidden")
                .map(|v| parse_flag("os_hidden", v))
                .transpose()?
                .flatten()
                .unwrap_or(false),
            protected: q
                .get("protected")
                .map(|v| parse_flag("protected", v))
                .transpose()?
                .flatten(),
            size_min: q
                .get("size_min")
                .map(|v| parse_u64("size_min", v))
                .transpose()?,
            size_max: q
                .get("size_max")
                .map(|v| parse_u64("size_max", v))
                .transpose()?,
            times,
            properties: q
                .0
                .iter()
                .filter(|(k, v)| !KNOWN.contains(&k.as_str()) && !v.is_empty())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    /// Whether the image passes every filter but visibility.
    pub fn matches(&self, i: &Image) -> bool {
        let field = |key: &str| -> Option<&str> {
            match key {
                "name" => i.name.as_deref(),
                "id" => Some(&i.id),
                "status" => Some(i.status.as_str()),
                "disk_format" => i.disk_format.as_deref(),
                _ => i.container_format.as_deref(),
            }
        };
        let time = |key: &str| {
            let t = if key == "created_at" {
                i.created_at
            } else {
                i.updated_at
            };
            t.timestamp()
        };
        self.fields
            .iter()
            .all(|(k, values)| field(k).is_some_and(|f| values.iter().any(|v| v == f)))
            && self
                .owner
                .as_ref()
                .is_none_or(|o| i.owner.as_ref() == Some(o))
            && self.tags.iter().all(|t| i.tags.contains(t))
            && i.os_hidden == self.hidden
            && self.protected.is_none_or(|p| i.protected == p)
            && self.size_min.is_none_or(|m| i.size.is_some_and(|s| s >= m))
            && self.size_max.is_none_or(|m| i.size.is_some_and(|s| s <= m))
            && self.times.iter().all(|(k, cmp, t)| {
                let (a, b) = (time(k), t.timestamp());
                match cmp {
                    Cmp::Eq => a == b,
                    Cmp::Neq => a != b,
                    Cmp::Gt => a > b,
                    Cmp::Gte => a >= b,
                    Cmp::Lt => a < b,
                    Cmp::Lte => a <= b,
                }
            })
            && self
                .properties
                .iter()
                .all(|(k, v)| i.properties.get(k) == Some(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_operator_splits_outside_quotes() {
        assert_eq!(in_values("in:a,b"), ["a", "b"]);
        assert_eq!(in_values("in:\"a,b\",c"), ["a,b", "c"]);
        assert_eq!(in_values("plain,value"), ["plain,value"]);
    }

    #[test]
    fn bad_values_are_400s() {
        for raw in [
            "visibility=secret",
            "member_status=maybe",
            "status=in:active,bogus",
            "size_min=-1",
            "protected=perhaps",
            "created_at=gt:yesterday",
            "updated_at=soon:2020-01-01T00:00:00Z",
        ] {
            let q = Query::parse(raw).unwrap();
            assert_eq!(Filters::parse(&q).unwrap_err().status, 400, "{raw}");
        }
    }

    #[test]
    fn property_and_time_filters_match() {
        let mut i = Image::new("x".into(), None);
        i.properties.insert("os_distro".into(), "nimbus".into());
        let q = Query::parse("os_distro=nimbus&created_at=gte:2000-01-01T00:00:00Z").unwrap();
        assert!(Filters::parse(&q).unwrap().matches(&i));
        let q = Query::parse("os_distro=other").unwrap();
        assert!(!Filters::parse(&q).unwrap().matches(&i));
    }
}
