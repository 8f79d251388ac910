//! OpenStack microversions, for every API that has them (Nova, later Cinder).
//!
//! A service describes its range once in a [`Service`] and wraps its router in
//! [`negotiate`], inside its error dialect:
//!
//! ```ignore
//! router
//!     .layer(axum::middleware::from_fn_with_state(&NOVA, microversion::negotiate))
//!     .layer(axum::middleware::map_response(dialect::nova))
//! ```
//!
//! The layer reads `OpenStack-API-Version: <service> X.Y` (and the service's legacy
//! header, e.g. `X-OpenStack-Nova-API-Version: X.Y`), accepts `latest`, defaults to
//! the minimum, answers 400 for a malformed version and 406 for one outside
//! `[min, max]`, and echoes the version chosen (both headers, plus `Vary`) on every
//! response. Handlers take the [`Microversion`] extractor and branch with
//! [`Microversion::at_least`]; routes that only exist from some version on use
//! [`Microversion::require`] (404 below it, as Nova does).

use crate::ApiError;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::fmt;

/// The standard header: `OpenStack-API-Version: compute 2.61`.
pub const API_VERSION_HEADER: &str = "openstack-api-version";

/// A microversion `major.minor`; ordered as versions are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u16,
    pub minor: u16,
}

impl Version {
    pub const fn new(major: u16, minor: u16) -> Self {
        Version { major, minor }
    }

    /// Parses `X.Y` as OpenStack does (`^([1-9]\d*)\.([1-9]\d*|0)$`).
    pub fn parse(s: &str) -> Option<Version> {
        let (major, minor) = s.split_once('.')?;
        let number = |p: &str| {
            let digits = !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
            let canonical = p == "0" || !p.starts_with('0');
            (digits && canonical)
                .then(|| p.parse::<u16>().ok())
                .flatten()
        };
        let major = number(major).filter(|m| *m > 0)?;
        Some(Version::new(major, number(minor)?))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The microversion range of one API.
#[derive(Debug)]
pub struct Service {
    /// The name in `OpenStack-API-Version` (`compute`, `volume`).
    pub name: &'static str,
    /// A service-specific header that carries the bare version, if the API has one
    /// (`x-openstack-nova-api-version`).
    pub legacy_header: Option<&'static str>,
    pub min: Version,
    pub max: Version,
}

impl Service {
    /// The version a request asks for, by its headers; `Err` is the 400 or 406.
    pub fn requested(&self, headers: &HeaderMap) -> Result<Version, ApiError> {
        let Some(raw) = self.header_value(headers) else {
            return Ok(self.min);
        };
        if raw.eq_ignore_ascii_case("latest") {
            return Ok(self.max);
        }
        let v = Version::parse(&raw).ok_or_else(|| {
            ApiError::bad_request(format!(
                "API Version String {raw} is of invalid format. Must be of format \
                 MajorNum.MinorNum."
            ))
        })?;
        if v < self.min || v > self.max {
            return Err(ApiError::new(
                StatusCode::NOT_ACCEPTABLE,
                format!(
                    "Version {v} is not supported by the API. Minimum is {} and maximum is {}.",
                    self.min, self.max
                ),
            ));
        }
        Ok(v)
    }

    /// The requested version string: the standard header's entry for this service
    /// wins over the legacy header (as `microversion_parse` does).
    fn header_value(&self, headers: &HeaderMap) -> Option<String> {
        let standard = headers
            .get_all(API_VERSION_HEADER)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|entry| {
                let mut parts = entry.split_whitespace();
                let service = parts.next()?;
                let version = parts.next()?;
                (service.eq_ignore_ascii_case(self.name) && parts.next().is_none())
                    .then(|| version.to_string())
            })
            .next_back();
        standard.or_else(|| {
            let legacy = headers.get(self.legacy_header?)?.to_str().ok()?;
            Some(legacy.trim().to_string())
        })
    }

    /// Echoes the chosen version on a response.
    fn echo(&self, v: Version, headers: &mut HeaderMap) {
        if let Ok(value) = HeaderValue::from_str(&format!("{} {v}", self.name)) {
            headers.insert(API_VERSION_HEADER, value);
        }
        let mut vary = String::from("OpenStack-API-Version");
        if let Some(legacy) = self.legacy_header {
            if let Ok(value) = HeaderValue::from_str(&v.to_string()) {
                headers.insert(legacy, value);
            }
            vary.push_str(", ");
            vary.push_str(&legacy_display(legacy));
        }
        if let Ok(value) = HeaderValue::from_str(&vary) {
            headers.append(axum::http::header::VARY, value);
        }
    }
}

/// `x-openstack-nova-api-version` as clients write it: `X-OpenStack-Nova-API-Version`.
fn legacy_display(header: &str) -> String {
    header
        .split('-')
        .map(|w| match w {
            "x" => "X".to_string(),
            "openstack" => "OpenStack".to_string(),
            "api" => "API".to_string(),
            w => {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect())
                    .unwrap_or_default()
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Middleware: negotiates the version, stores it for [`Microversion`], echoes it.
pub async fn negotiate(
    State(service): State<&'static Service>,
    mut req: Request,
    next: Next,
) -> Response {
    let v = match service.requested(req.headers()) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    req.extensions_mut().insert(Microversion(v));
    let mut resp = next.run(req).await;
    service.echo(v, resp.headers_mut());
    resp
}

/// Extractor: the microversion negotiated for this request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Microversion(pub Version);

impl Microversion {
    /// Whether the request is at `major.minor` or above.
    pub fn at_least(self, major: u16, minor: u16) -> bool {
        self.0 >= Version::new(major, minor)
    }

    /// 404 below `major.minor`: the route does not exist at that version.
    pub fn require(self, major: u16, minor: u16) -> Result<(), ApiError> {
        if self.at_least(major, minor) {
            Ok(())
        } else {
            Err(ApiError::not_found("The resource could not be found."))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Microversion {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Microversion>()
            .copied()
            .ok_or_else(|| ApiError::internal("microversion layer missing on this router"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static TEST: Service = Service {
        name: "compute",
        legacy_header: Some("x-openstack-nova-api-version"),
        min: Version::new(2, 1),
        max: Version::new(2, 79),
    };

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn parses_versions_strictly() {
        assert_eq!(Version::parse("2.61"), Some(Version::new(2, 61)));
        assert_eq!(Version::parse("2.0"), Some(Version::new(2, 0)));
        for bad in [
            "", "2", "2.", ".1", "02.1", "2.01", "0.1", "2.1.1", "a.b", " 2.1",
        ] {
            assert_eq!(Version::parse(bad), None, "{bad:?}");
        }
        assert!(Version::new(2, 10) > Version::new(2, 9));
    }

    #[test]
    fn negotiates_both_headers() {
        assert_eq!(TEST.requested(&headers(&[])), Ok(Version::new(2, 1)));
        let h = headers(&[("openstack-api-version", "compute 2.61")]);
        assert_eq!(TEST.requested(&h), Ok(Version::new(2, 61)));
        let h = headers(&[("x-openstack-nova-api-version", "2.10")]);
        assert_eq!(TEST.requested(&h), Ok(Version::new(2, 10)));
        let h = headers(&[
            ("openstack-api-version", "volume 3.5, compute 2.20"),
            ("x-openstack-nova-api-version", "2.10"),
        ]);
        assert_eq!(TEST.requested(&h), Ok(Version::new(2, 20)));
        let h = headers(&[("openstack-api-version", "volume 3.5")]);
        assert_eq!(TEST.requested(&h), Ok(Version::new(2, 1)));
        let h = headers(&[("openstack-api-version", "compute latest")]);
        assert_eq!(TEST.requested(&h), Ok(Version::new(2, 79)));
    }

    #[test]
    fn refuses_bad_and_unsupported_versions() {
        let h = headers(&[("openstack-api-version", "compute 2.80")]);
        assert_eq!(TEST.requested(&h).unwrap_err().status.as_u16(), 406);
        let h = headers(&[("x-openstack-nova-api-version", "3.0")]);
        assert_eq!(TEST.requested(&h).unwrap_err().status.as_u16(), 406);
        let h = headers(&[("x-openstack-nova-api-version", "2.0")]);
        assert_eq!(TEST.requested(&h).unwrap_err().status.as_u16(), 406);
        let h = headers(&[("openstack-api-version", "compute two")]);
        assert_eq!(TEST.requested(&h).unwrap_err().status.as_u16(), 400);
    }

    #[test]
    fn echoes_with_vary() {
        let mut h = HeaderMap::new();
        TEST.echo(Version::new(2, 61), &mut h);
        assert_eq!(h["openstack-api-version"], "compute 2.61");
        assert_eq!(h["x-openstack-nova-api-version"], "2.61");
        assert_eq!(
            h["vary"],
            "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
        );
    }
}
