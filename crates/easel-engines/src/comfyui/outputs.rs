//! Which files of a finished prompt are the generation's outputs. The rule is ComfyUI's own
//! (`jobs.py is_previewable`): every list under every key of an output node except
//! `animated`, each item with a `filename` is a file; its kind comes from the key, the
//! `format` MIME type and the extension. Core `SaveVideo` lists its MP4 under `images` with
//! `animated: [true]`; VideoHelperSuite lists it under `gifs` with `format: video/h264-mp4`.

use serde_json::Value;

use super::wire::{FileRef, HistoryEntry};
use crate::engine::ModelKind;

const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "webp"];
const VIDEO_EXTENSIONS: &[&str] = &["mp4", "webm", "mov", "mkv", "m4v"];

/// The files of `nodes` in `entry` that are outputs of a `kind` model, in node order.
pub fn files(entry: &HistoryEntry, nodes: &[String], kind: ModelKind) -> Vec<FileRef> {
    let mut found = Vec::new();
    for node in nodes {
        let Some(ui) = entry.outputs.get(node) else {
            continue;
        };
        let animated = ui
            .get("animated")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v.as_bool() == Some(true)));
        for (key, value) in ui {
            if key == "animated" {
                continue;
            }
            let Some(items) = value.as_array() else {
                continue;
            };
            for item in items {
                let Ok(file) = serde_json::from_value::<FileRef>(item.clone()) else {
                    continue;
                };
                if is_kind(&file, key, animated, kind) && !found.contains(&file) {
                    found.push(file);
                }
            }
        }
    }
    found
}

fn is_kind(file: &FileRef, key: &str, animated: bool, kind: ModelKind) -> bool {
    let extension = file
        .filename
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    let format = file.format.as_deref().unwrap_or_default();
    let video = format.starts_with("video/") || VIDEO_EXTENSIONS.contains(&extension.as_str());
    match kind {
        ModelKind::Video => video,
        // An animated WebP/PNG is not a still; a `gifs` list holds animations.
        ModelKind::Image => {
            !video
                && !animated
                && key != "gifs"
                && (format.is_empty() || format.starts_with("image/"))
                && IMAGE_EXTENSIONS.contains(&extension.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(outputs: Value) -> HistoryEntry {
        serde_json::from_value(serde_json::json!({"outputs": outputs})).expect("entry")
    }

    #[test]
    fn images_videos_and_vhs_gifs_are_told_apart() {
        let e = entry(serde_json::json!({
            "9": {"images": [{"filename": "a.png", "subfolder": "", "type": "output"}]},
            "10": {"images": [{"filename": "v.mp4", "subfolder": "video", "type": "output"}], "animated": [true]},
            "11": {"gifs": [{"filename": "w.mp4", "subfolder": "", "type": "output", "format": "video/h264-mp4",
                              "fullpath": "/srv/out/w.mp4", "workflow": "w.png"}]},
            "12": {"text": ["hello"]}
        }));
        let all: Vec<String> = ["9", "10", "11", "12"].map(str::to_owned).to_vec();
        let names = |kind| {
            files(&e, &all, kind)
                .into_iter()
                .map(|f| f.filename)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(ModelKind::Image), ["a.png"]);
        assert_eq!(names(ModelKind::Video), ["v.mp4", "w.mp4"]);
        let only_nine = files(&e, &["9".to_owned()], ModelKind::Video);
        assert!(only_nine.is_empty());
    }
}
