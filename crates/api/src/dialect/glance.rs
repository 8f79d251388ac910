//! Glance's error body: the HTML page webob renders for an HTTP exception, served as
//! `text/html`. openstacksdk strips the tags line by line and joins what is left, so
//! a 404 reads "404 Not Found: No image found with ID …" on the command line.
//!
//! ```text
//! <html>
//!  <head>
//!   <title>404 Not Found</title>
//!  </head>
//!  <body>
//!   <h1>404 Not Found</h1>
//!   No image found with ID 42.<br /><br />
//!
//!
//!  </body>
//! </html>
//! ```

use crate::ApiError;

pub(super) const CONTENT_TYPE: &str = "text/html; charset=UTF-8";

pub(super) fn body(e: &ApiError) -> String {
    let status = format!(
        "{} {}",
        e.status.as_u16(),
        e.status.canonical_reason().unwrap_or("Error")
    );
    format!(
        "<html>\n <head>\n  <title>{status}</title>\n </head>\n <body>\n  <h1>{status}</h1>\n  \
         {}<br /><br />\n\n\n </body>\n</html>",
        escape(&e.message)
    )
}

/// Escapes text for HTML, as webob does with the explanation.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn renders_webob_page_with_escaped_message() {
        let b = body(&ApiError::new(StatusCode::NOT_FOUND, "No image <x> & co"));
        assert!(b.starts_with("<html>\n <head>\n  <title>404 Not Found</title>"));
        assert!(b.contains("<h1>404 Not Found</h1>\n  No image &lt;x&gt; &amp; co<br /><br />"));
        assert!(b.ends_with("</html>"));
    }
}
