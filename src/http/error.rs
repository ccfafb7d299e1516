//! `ApiError`: the only error that becomes an HTTP response.
//! Body: `{"error": "<code>", "message": "…", "details": [{"field", "message"}]}`; 5xx bodies
//! are opaque and carry an `error_id` that the request log line repeats with the cause.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use schemars::JsonSchema;
use serde::Serialize;

use crate::domain::access::Denied;
use crate::domain::validate::FieldError;
use crate::store::StoreError;

#[derive(Debug)]
pub enum ApiError {
    Validation {
        message: String,
        details: Vec<FieldError>,
    },
    Unauthorized(String),
    Forbidden(String),
    MissingScopes(String),
    NotFound(String),
    /// The message, and the methods the path does accept (the `Allow` header).
    MethodNotAllowed {
        message: String,
        allow: String,
    },
    Conflict {
        message: String,
        details: Vec<FieldError>,
    },
    PayloadTooLarge(usize),
    RateLimited {
        retry_after: u64,
        message: String,
    },
    BadGateway(String),
    Unavailable(String),
    Internal {
        error_id: String,
        detail: String,
    },
}

/// The error body, as documented in the OpenAPI document.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorBody {
    /// `validation_error`, `unauthorized`, `forbidden`, `missing_scopes`, `not_found`,
    /// `conflict`, `payload_too_large`, `rate_limited`, `internal`…
    pub error: String,
    pub message: String,
    /// One entry per wrong field (validation errors and conflicts only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldError>,
    /// Present on 5xx: quote it when reporting; the server log has the cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_id: Option<String>,
}

impl ApiError {
    pub fn validation(details: Vec<FieldError>) -> ApiError {
        let summary: Vec<String> = details.iter().take(5).map(|d| format!("{}: {}", d.field, d.message)).collect();
        ApiError::Validation { message: format!("invalid request: {}", summary.join("; ")), details }
    }
    pub fn field(field: &str, message: &str) -> ApiError {
        ApiError::validation(vec![FieldError::new(field, message)])
    }
    pub fn internal(detail: impl Into<String>) -> ApiError {
        let id = uuid::Uuid::new_v4().simple().to_string();
        ApiError::Internal { error_id: id[..12].to_string(), detail: detail.into() }
    }
    pub fn not_found(what: &str) -> ApiError {
        ApiError::NotFound(format!("{what} not found"))
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Validation { .. } => "validation_error",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::MissingScopes(_) => "missing_scopes",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::Conflict { .. } => "conflict",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::BadGateway(_) => "bad_gateway",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal { .. } => "internal",
        }
    }

    pub fn body(&self) -> ErrorBody {
        let (message, details, error_id) = match self {
            ApiError::Validation { message, details } | ApiError::Conflict { message, details } => {
                (message.clone(), details.clone(), None)
            }
            ApiError::Unauthorized(m)
            | ApiError::Forbidden(m)
            | ApiError::MissingScopes(m)
            | ApiError::NotFound(m)
            | ApiError::BadGateway(m)
            | ApiError::Unavailable(m) => (m.clone(), vec![], None),
            ApiError::PayloadTooLarge(limit) => {
                (format!("the request body is larger than {limit} bytes"), vec![], None)
            }
            ApiError::RateLimited { message, .. } | ApiError::MethodNotAllowed { message, .. } => {
                (message.clone(), vec![], None)
            }
            ApiError::Internal { error_id, .. } => (
                format!("internal error (error_id {error_id}); the server log has the details"),
                vec![],
                Some(error_id.clone()),
            ),
        };
        ErrorBody { error: self.code().to_string(), message, details, error_id }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Internal { error_id, detail } => {
                write!(f, "internal error {error_id}: {detail}")
            }
            other => write!(f, "{}: {}", other.code(), other.body().message),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::MissingScopes(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status_code()).json(self.body());
        match self {
            ApiError::RateLimited { retry_after, .. } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            ApiError::Unauthorized(_) => {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::MethodNotAllowed { allow, .. } => {
                if let Ok(v) = HeaderValue::from_str(allow) {
                    resp.headers_mut().insert(header::ALLOW, v);
                }
            }
            _ => {}
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(what) => ApiError::not_found(&what),
            StoreError::Conflict { field, message, .. } => {
                let details = if field.is_empty() { vec![] } else { vec![FieldError::new(field, message.clone())] };
                ApiError::Conflict { message, details }
            }
            StoreError::Busy(m) => ApiError::Unavailable(m),
            StoreError::Invalid(errs) => ApiError::validation(errs),
            StoreError::Db(m) => ApiError::internal(m),
            StoreError::Unavailable(m) => ApiError::Unavailable(m),
        }
    }
}

impl From<Vec<FieldError>> for ApiError {
    fn from(errs: Vec<FieldError>) -> ApiError {
        ApiError::validation(errs)
    }
}

impl From<crate::crypto::CryptoError> for ApiError {
    fn from(e: crate::crypto::CryptoError) -> ApiError {
        ApiError::internal(e.to_string())
    }
}

/// Maps an access check failure; `what` names the object (`team`) so that an invisible object
/// reads exactly like a missing one.
pub fn denied(d: Denied, what: &str) -> ApiError {
    match d {
        Denied::Invisible => ApiError::not_found(what),
        Denied::Forbidden => ApiError::Forbidden(format!("your role does not allow changing this {what}")),
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
