//! The text an input image carries besides its pixels: PNG text chunks (`tEXt`, `zTXt`,
//! `iTXt`), EXIF (in PNG, JPEG and WebP), XMP packets and JPEG comments. Prompts hide
//! there too (generators write theirs into `parameters` chunks), so it is moderated like a
//! prompt.
//!
//! Extraction never fails a request: an unreadable chunk simply adds no text (the image
//! was already checked to be PNG, JPEG or WebP by its signature).

/// Most text taken from one image; more is cut (the rules see the start of each piece).
const MAX_TEXT_BYTES: usize = 64 * 1024;

/// The metadata texts of a PNG, JPEG or WebP image.
pub fn texts(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        png_texts(bytes, &mut out);
    } else if bytes.starts_with(&[0xFF, 0xD8]) {
        jpeg_texts(bytes, &mut out);
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        webp_texts(bytes, &mut out);
    }
    let mut budget = MAX_TEXT_BYTES;
    out.retain_mut(|text| {
        if budget == 0 || text.trim().is_empty() {
            return false;
        }
        if text.len() > budget {
            let mut cut = budget;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        budget -= text.len();
        true
    });
    out
}

fn png_texts(bytes: &[u8], out: &mut Vec<String>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let Ok(reader) = decoder.read_info() else {
        return;
    };
    let info = reader.info();
    for chunk in &info.uncompressed_latin1_text {
        out.push(format!("{} {}", chunk.keyword, chunk.text));
    }
    for chunk in &info.compressed_latin1_text {
        let mut chunk = chunk.clone();
        if chunk.decompress_text().is_ok()
            && let Ok(text) = chunk.get_text()
        {
            out.push(format!("{} {text}", chunk.keyword));
        }
    }
    for chunk in &info.utf8_text {
        let mut chunk = chunk.clone();
        if chunk.decompress_text().is_ok()
            && let Ok(text) = chunk.get_text()
        {
            out.push(format!("{} {text}", chunk.keyword));
        }
    }
    if let Some(exif) = &info.exif_metadata {
        exif_texts(exif, out);
    }
}

/// Walks the JPEG markers up to the image data: APP1 holds EXIF or XMP, COM a comment.
fn jpeg_texts(bytes: &[u8], out: &mut Vec<String>) {
    const XMP: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";
    let mut at = 2;
    while at + 4 <= bytes.len() && bytes[at] == 0xFF {
        let marker = bytes[at + 1];
        // Start of scan: the pixels follow, no more metadata segments.
        if marker == 0xDA {
            break;
        }
        let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        let Some(segment) = bytes.get(at + 4..at + 2 + len) else {
            break;
        };
        if len < 2 {
            break;
        }
        match marker {
            0xE1 if segment.starts_with(b"Exif\0\0") => exif_texts(&segment[6..], out),
            0xE1 if segment.starts_with(XMP) => {
                out.push(String::from_utf8_lossy(&segment[XMP.len()..]).into_owned());
            }
            0xFE => out.push(String::from_utf8_lossy(segment).into_owned()),
            _ => {}
        }
        at += 2 + len;
    }
}

/// Walks the RIFF chunks: `EXIF` and `XMP ` carry metadata.
fn webp_texts(bytes: &[u8], out: &mut Vec<String>) {
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]);
        let Ok(len) = usize::try_from(len) else {
            break;
        };
        let Some(data) = bytes.get(at + 8..(at + 8).saturating_add(len)) else {
            break;
        };
        match id {
            b"EXIF" => {
                // Some writers keep JPEG's "Exif\0\0" prefix.
                exif_texts(data.strip_prefix(b"Exif\0\0").unwrap_or(data), out);
            }
            b"XMP " => out.push(String::from_utf8_lossy(data).into_owned()),
            _ => {}
        }
        // Chunks are padded to an even length.
        at = at + 8 + len + (len & 1);
    }
}

/// The text fields of a raw EXIF (TIFF) block: ASCII fields, `UserComment` and the
/// Windows `XP*` fields (UCS-2).
fn exif_texts(raw: &[u8], out: &mut Vec<String>) {
    let Ok(exif) = exif::Reader::new().read_raw(raw.to_vec()) else {
        return;
    };
    for field in exif.fields() {
        match &field.value {
            exif::Value::Ascii(parts) => {
                for part in parts {
                    out.push(String::from_utf8_lossy(part).into_owned());
                }
            }
            exif::Value::Undefined(data, _) if field.tag == exif::Tag::UserComment => {
                // An 8-byte character-code header, then the text.
                let text = data.get(8..).unwrap_or_default();
                if data.starts_with(b"UNICODE\0") {
                    out.push(ucs2(text));
                } else {
                    out.push(String::from_utf8_lossy(text).into_owned());
                }
            }
            exif::Value::Byte(data) if matches!(field.tag.number(), 0x9C9B..=0x9C9F) => {
                out.push(ucs2(data));
            }
            _ => {}
        }
    }
}

fn ucs2(data: &[u8]) -> String {
    let units: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|u| *u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_with_text(keyword: &str, text: &str) -> Vec<u8> {
        let mut bytes = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut bytes, 1, 1);
            encoder.set_color(png::ColorType::Grayscale);
            encoder
                .add_text_chunk(keyword.to_string(), text.to_string())
                .unwrap_or_else(|e| panic!("text chunk: {e}"));
            encoder
                .add_itxt_chunk("Comment".to_string(), "ünïcode itxt".to_string())
                .unwrap_or_else(|e| panic!("itxt chunk: {e}"));
            let mut writer = encoder
                .write_header()
                .unwrap_or_else(|e| panic!("header: {e}"));
            writer
                .write_image_data(&[0])
                .unwrap_or_else(|e| panic!("data: {e}"));
        }
        bytes
    }

    #[test]
    fn png_text_chunks_are_read() {
        let texts = texts(&png_with_text("parameters", "a red fox, masterpiece"));
        assert!(
            texts.iter().any(|t| t.contains("a red fox, masterpiece")),
            "{texts:?}"
        );
        assert!(
            texts.iter().any(|t| t.contains("ünïcode itxt")),
            "{texts:?}"
        );
    }

    #[test]
    fn jpeg_comments_and_xmp_are_read() {
        let mut jpeg = vec![0xFF, 0xD8];
        let comment = b"hidden comment words";
        jpeg.extend_from_slice(&[0xFF, 0xFE]);
        jpeg.extend_from_slice(&u16::try_from(comment.len() + 2).unwrap_or(0).to_be_bytes());
        jpeg.extend_from_slice(comment);
        let mut xmp = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
        xmp.extend_from_slice(b"<x:xmpmeta>xmp description here</x:xmpmeta>");
        jpeg.extend_from_slice(&[0xFF, 0xE1]);
        jpeg.extend_from_slice(&u16::try_from(xmp.len() + 2).unwrap_or(0).to_be_bytes());
        jpeg.extend_from_slice(&xmp);
        jpeg.extend_from_slice(&[0xFF, 0xDA, 0, 2, 0xFF, 0xD9]);
        let texts = texts(&jpeg);
        assert!(
            texts.iter().any(|t| t.contains("hidden comment words")),
            "{texts:?}"
        );
        assert!(
            texts.iter().any(|t| t.contains("xmp description here")),
            "{texts:?}"
        );
    }

    #[test]
    fn garbage_yields_nothing_and_never_panics() {
        assert!(texts(b"").is_empty());
        assert!(texts(&[0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF]).is_empty());
        assert!(texts(&[0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x01]).is_empty());
        let mut webp = b"RIFF\0\0\0\0WEBPEXIF\xff\xff\xff\xff".to_vec();
        webp.extend_from_slice(&[1, 2, 3]);
        assert!(texts(&webp).is_empty());
        assert!(texts(b"\x89PNG\r\n\x1a\ngarbage").is_empty());
    }
}
