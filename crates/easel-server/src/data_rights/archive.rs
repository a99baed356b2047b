//! The export archive: a gzip-compressed tar of one JSON-lines file per record kind and
//! a `manifest.json`, all in one folder named after the export. Written on a blocking
//! thread from files already on disk, so an account of any size never sits in memory.

use std::io::Write;
use std::path::{Path, PathBuf};

/// One file of the archive, already written to disk.
pub struct Part {
    /// Its name inside the archive's folder.
    pub name: String,
    pub path: PathBuf,
}

/// Writes `out`: `<folder>/manifest.json` (from `manifest`), then every part. `mtime` is
/// the export's time (Unix seconds) on every entry.
pub fn write(
    out: &Path,
    folder: &str,
    manifest: &[u8],
    parts: &[Part],
    mtime: u64,
) -> std::io::Result<()> {
    let file = std::fs::File::create(out)?;
    let gz = flate2::write::GzEncoder::new(
        std::io::BufWriter::new(file),
        flate2::Compression::default(),
    );
    let mut tar = tar::Builder::new(gz);
    let header = |size: u64| {
        let mut h = tar::Header::new_ustar();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(mtime);
        h.set_entry_type(tar::EntryType::Regular);
        h
    };
    let mut h = header(manifest.len() as u64);
    tar.append_data(&mut h, format!("{folder}/manifest.json"), manifest)?;
    for part in parts {
        let file = std::fs::File::open(&part.path)?;
        let mut h = header(file.metadata()?.len());
        tar.append_data(&mut h, format!("{folder}/{}", part.name), file)?;
    }
    let gz = tar.into_inner()?;
    let mut buffered = gz.finish()?;
    buffered.flush()?;
    buffered
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()
}

/// Appends records (JSON objects as the database wrote them) to a JSON-lines file, one
/// compact object per line. Each is parsed and written again, so both databases' exports
/// look alike and nothing that is not one JSON object can reach the file.
pub fn append(
    mut writer: std::io::BufWriter<std::fs::File>,
    records: Vec<(String, String)>,
) -> std::io::Result<std::io::BufWriter<std::fs::File>> {
    for (_, json) in records {
        let value: serde_json::Value = serde_json::from_str(&json)?;
        if !value.is_object() {
            return Err(std::io::Error::other(
                "an exported record is not a JSON object",
            ));
        }
        serde_json::to_writer(&mut writer, &value)?;
        writer.write_all(b"\n")?;
    }
    Ok(writer)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn archives_read_back_with_their_manifest_first() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let jsonl = dir.path().join("a.jsonl");
        let writer = std::io::BufWriter::new(
            std::fs::File::create(&jsonl).unwrap_or_else(|e| panic!("{e}")),
        );
        let records = vec![
            ("1".to_string(), r#"{"id" : "x", "n": 1}"#.to_string()),
            ("2".to_string(), r#"{"id":"y"}"#.to_string()),
        ];
        let mut writer = append(writer, records).unwrap_or_else(|e| panic!("{e}"));
        writer.flush().unwrap_or_else(|e| panic!("{e}"));
        drop(writer);
        let out = dir.path().join("out.tar.gz");
        let parts = [Part {
            name: "a.jsonl".into(),
            path: jsonl,
        }];
        write(&out, "exp_1", b"{\"m\":1}", &parts, 1_800_000_000).unwrap_or_else(|e| panic!("{e}"));
        let gz = flate2::read::GzDecoder::new(
            std::fs::File::open(&out).unwrap_or_else(|e| panic!("{e}")),
        );
        let mut archive = tar::Archive::new(gz);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap_or_else(|e| panic!("{e}")) {
            let mut entry = entry.unwrap_or_else(|e| panic!("{e}"));
            let name = entry
                .path()
                .unwrap_or_else(|e| panic!("{e}"))
                .display()
                .to_string();
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .unwrap_or_else(|e| panic!("{e}"));
            seen.push((name, text));
        }
        assert_eq!(seen[0], ("exp_1/manifest.json".into(), "{\"m\":1}".into()));
        assert_eq!(seen[1].0, "exp_1/a.jsonl");
        assert_eq!(seen[1].1, "{\"id\":\"x\",\"n\":1}\n{\"id\":\"y\"}\n");
        let bad = std::io::BufWriter::new(
            std::fs::File::create(dir.path().join("b")).unwrap_or_else(|e| panic!("{e}")),
        );
        assert!(append(bad, vec![("k".into(), "[1]".into())]).is_err());
    }
}
