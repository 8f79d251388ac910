//! Errors with a Neutron exception name. Handlers and the allocation code return
//! [`Fault`]: an [`ApiError`] (status, message) plus the `type` Neutron reports
//! (`NetworkNotFound`, `IpAddressGenerationFailure`, ...), which the Neutron error
//! dialect puts into the body. The in-process API for other crates turns a fault
//! back into a plain [`ApiError`].

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nimbus_api::dialect::neutron::{default_type, ErrorType};
use nimbus_api::ApiError;
use nimbus_store::StoreError;

/// A failed request in Neutron's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub error: ApiError,
    pub kind: &'static str,
}

/// Result of the network service's handlers and allocation functions.
pub type NResult<T> = Result<T, Fault>;

impl Fault {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Fault {
        Fault {
            error: ApiError::new(status, message),
            kind,
        }
    }

    /// Neutron's `InvalidInput` (400): "Invalid input for operation: ...".
    pub fn invalid(detail: impl std::fmt::Display) -> Fault {
        Fault::new(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            format!("Invalid input for operation: {detail}"),
        )
    }

    /// A 400 with its own exception name.
    pub fn bad(kind: &'static str, message: impl Into<String>) -> Fault {
        Fault::new(StatusCode::BAD_REQUEST, kind, message)
    }

    /// A 409 with its own exception name.
    pub fn conflict(kind: &'static str, message: impl Into<String>) -> Fault {
        Fault::new(StatusCode::CONFLICT, kind, message)
    }

    /// `NetworkNotFound`, `SubnetNotFound`, `PortNotFound`: "Network X could not be found."
    pub fn not_found(what: Kind, id: &str) -> Fault {
        let message = match what {
            Kind::SecurityGroup => format!("Security group {id} does not exist"),
            Kind::SecurityGroupRule => format!("Security group rule {id} does not exist"),
            _ => format!("{} {id} could not be found.", what.title()),
        };
        Fault::new(StatusCode::NOT_FOUND, what.not_found_type(), message)
    }

    pub fn status(&self) -> StatusCode {
        self.error.status
    }
}

/// The resources of the network service, for messages and exception names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Network,
    Subnet,
    Port,
    SecurityGroup,
    SecurityGroupRule,
    Router,
    FloatingIp,
    RbacPolicy,
}

impl Kind {
    pub fn title(self) -> &'static str {
        match self {
            Kind::Network => "Network",
            Kind::Subnet => "Subnet",
            Kind::Port => "Port",
            Kind::SecurityGroup => "Security group",
            Kind::SecurityGroupRule => "Security group rule",
            Kind::Router => "Router",
            Kind::FloatingIp => "Floating IP",
            Kind::RbacPolicy => "RBAC policy",
        }
    }
    fn not_found_type(self) -> &'static str {
        match self {
            Kind::Network => "NetworkNotFound",
            Kind::Subnet => "SubnetNotFound",
            Kind::Port => "PortNotFound",
            Kind::SecurityGroup => "SecurityGroupNotFound",
            Kind::SecurityGroupRule => "SecurityGroupRuleNotFound",
            Kind::Router => "RouterNotFound",
            Kind::FloatingIp => "FloatingIPNotFound",
            Kind::RbacPolicy => "RbacPolicyNotFound",
        }
    }
}

impl From<ApiError> for Fault {
    fn from(error: ApiError) -> Fault {
        let kind = default_type(error.status.as_u16());
        Fault { error, kind }
    }
}

impl From<StoreError> for Fault {
    fn from(e: StoreError) -> Fault {
        Fault::from(ApiError::from(e))
    }
}

impl From<Fault> for ApiError {
    fn from(f: Fault) -> ApiError {
        f.error
    }
}

impl IntoResponse for Fault {
    fn into_response(self) -> Response {
        let mut resp = self.error.into_response();
        resp.extensions_mut().insert(ErrorType(self.kind));
        resp
    }
}
