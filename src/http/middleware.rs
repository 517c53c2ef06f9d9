//! What every response gets: security headers, `no-store` on the pages
//! behind a token, and one log line per request with tokens left out.

use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::urls::route;

/// The one script any page runs: the subscribe form fills its hidden
/// `timezone` field with the browser's zone. The form works without it.
pub const TIMEZONE_SCRIPT: &str = "try{document.getElementById('timezone').value=Intl.DateTimeFormat().resolvedOptions().timeZone||''}catch(e){}";

/// The Content-Security-Policy: nothing but inline styles, images, posts
/// to ourselves, and [`TIMEZONE_SCRIPT`] by its hash.
static CSP: std::sync::LazyLock<HeaderValue> = std::sync::LazyLock::new(|| {
    use base64::Engine as _;
    use sha2::Digest as _;
    let hash = base64::engine::general_purpose::STANDARD
        .encode(sha2::Sha256::digest(TIMEZONE_SCRIPT.as_bytes()));
    HeaderValue::from_str(&format!(
        "default-src 'none'; script-src 'sha256-{hash}'; style-src 'unsafe-inline'; \
         img-src 'self' https: data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
});

pub async fn headers_and_log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = redact(request.uri().path());
    let private = route::TOKEN_PAGES
        .iter()
        .any(|p| path.contains(&format!("/{p}/")))
        || path.ends_with(route::SUBSCRIBE);
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, CSP.clone());
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if private {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    tracing::info!(
        "{method} {path} {} {:.1} ms",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    response
}

/// `/unsubscribe/AbC...` → `/unsubscribe/…`: tokens are secrets.
pub fn redact(path: &str) -> String {
    let mut out = Vec::new();
    let mut hide_next = false;
    for seg in path.split('/') {
        if hide_next && !seg.is_empty() {
            out.push("…");
        } else {
            out.push(seg);
        }
        hide_next = route::TOKEN_PAGES.contains(&seg);
    }
    out.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_redacted_from_logged_paths() {
        let cases = [
            ("/digest/unsubscribe/AbCdEf", "/digest/unsubscribe/…"),
            ("/confirm/x", "/confirm/…"),
            ("/archive/2026-W48", "/archive/2026-W48"),
        ];
        for (path, shown) in cases {
            assert_eq!(redact(path), shown);
        }
    }
}
