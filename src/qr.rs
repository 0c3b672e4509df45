//! QR codes of link and slot URLs, as SVG, so a phone can pick a URL off the screen.

use qrcode::QrCode;
use qrcode::render::svg;

use crate::{Error, Result};

/// An SVG image of a QR code for `text`: black on white, with the standard quiet zone.
pub fn svg(text: &str) -> Result<String> {
    let code = QrCode::new(text.as_bytes()).map_err(|e| Error::InvalidInput(format!("cannot make a QR code: {e}")))?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build())
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_an_svg() {
        let image = super::svg("http://127.0.0.1:7420/d/abc/sig/file.txt").unwrap();
        assert!(image.starts_with("<?xml") && image.contains("<svg") && image.contains("#000000"));
    }
}
