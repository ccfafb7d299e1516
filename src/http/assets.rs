//! Static assets embedded in the binary (CSS, a little JS, Swagger UI), served with ETags.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "assets/"]
struct Assets;

pub async fn asset(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let path = path.into_inner();
    let Some(file) = Assets::get(&path) else {
        return HttpResponse::NotFound().json(serde_json::json!({"error": "not_found", "message": "no such asset"}));
    };
    let etag = format!("\"{}\"", crate::crypto::hex(&file.metadata.sha256_hash()[..8]));
    if req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return HttpResponse::NotModified().insert_header((header::ETAG, etag)).finish();
    }
    HttpResponse::Ok()
        .content_type(file.metadata.mimetype())
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(file.data.into_owned())
}

/// Swagger UI for `/api/openapi.json`, from embedded files (no CDN).
pub async fn swagger_page() -> HttpResponse {
    const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>IncidentRelay API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/assets/swagger/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/assets/swagger/swagger-ui-bundle.js"></script>
<script src="/assets/swagger/init.js"></script>
</body></html>"#;
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(PAGE)
}
