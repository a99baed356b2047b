//! Telling whether the checkpoint the operator configured is the one the server has and
//! the one it ran.
//!
//! AUTOMATIC1111 does not refuse an override naming a checkpoint it lacks: it loads
//! another one and prints "Checkpoint … not found; loading fallback …" to its own console
//! (`sd_models.select_checkpoint`). Easel would then sell pictures of a model the customer
//! did not choose, so every answer's `info.sd_model_name` is compared with the setting.

use super::wire::{Info, SdModel};

/// Extensions checkpoint files have; only these are cut off a name.
const EXTENSIONS: &[&str] = &[
    ".safetensors",
    ".ckpt",
    ".pt",
    ".pth",
    ".bin",
    ".gguf",
    ".sft",
];

/// The names the server accepts for `model` (its `checkpoint_aliases`): the title
/// `name [hash]`, the name alone, the file stem, `model_name`, and the hashes.
#[must_use]
pub fn aliases(model: &SdModel) -> Vec<String> {
    let name = without_hash(&model.title);
    let mut out = vec![model.title.clone(), name.to_owned(), stem(name).to_owned()];
    out.extend(model.model_name.iter().cloned());
    out.extend(model.hash.iter().cloned());
    out.extend(model.sha256.iter().cloned());
    out
}

/// Whether `info` says the run used `setting`. Lenient: only a clear mismatch (a
/// different file stem and no matching hash) counts, so an alias never fails a job.
#[must_use]
pub fn ran_as_configured(setting: &str, info: &Info) -> bool {
    let Some(ran) = info.sd_model_name.as_deref().filter(|n| !n.is_empty()) else {
        return true;
    };
    let wanted = stem(without_hash(setting.trim()));
    if wanted == ran || wanted.ends_with(&format!("_{ran}")) {
        return true;
    }
    let Some(hash) = info.sd_model_hash.as_deref().filter(|h| !h.is_empty()) else {
        return false;
    };
    let bracketed = bracket_hash(setting).unwrap_or(setting.trim());
    !bracketed.is_empty() && (bracketed.starts_with(hash) || hash.starts_with(bracketed))
}

/// `dir/model.safetensors [6ce0161689]` → `dir/model.safetensors`.
fn without_hash(title: &str) -> &str {
    match title.rsplit_once(" [") {
        Some((name, rest)) if rest.ends_with(']') => name,
        _ => title,
    }
}

/// `dir/model.safetensors [6ce0161689]` → `6ce0161689`.
fn bracket_hash(title: &str) -> Option<&str> {
    let (_, rest) = title.trim().rsplit_once(" [")?;
    rest.strip_suffix(']')
}

/// `dir\sub/model.safetensors` → `model`.
fn stem(name: &str) -> &str {
    let file = name.rsplit(['/', '\\']).next().unwrap_or(name);
    EXTENSIONS
        .iter()
        .find_map(|ext| file.strip_suffix(ext))
        .unwrap_or(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, hash: &str) -> Info {
        Info {
            sd_model_name: Some(name.to_owned()),
            sd_model_hash: Some(hash.to_owned()),
            ..Info::default()
        }
    }

    #[test]
    fn every_spelling_of_the_same_checkpoint_matches() {
        let ran = info("v1-5-pruned-emaonly", "6ce0161689");
        for setting in [
            "v1-5-pruned-emaonly",
            "v1-5-pruned-emaonly.safetensors",
            "SD1.5/v1-5-pruned-emaonly.safetensors [6ce0161689]",
            "SD1.5_v1-5-pruned-emaonly",
            "6ce0161689",
            "6ce0161689b3853acaa669ec3d2ddbcc6e8ab8b3d9a5d9e3c3b8c1c2d5e5f8a1",
        ] {
            assert!(ran_as_configured(setting, &ran), "{setting}");
        }
        assert!(ran_as_configured("anything", &Info::default()));
    }

    #[test]
    fn a_fallback_checkpoint_is_noticed() {
        let ran = info("v1-5-pruned-emaonly", "6ce0161689");
        assert!(!ran_as_configured("sd_xl_base_1.0.safetensors", &ran));
        assert!(!ran_as_configured("dreamshaper_8 [879db523c3]", &ran));
    }

    #[test]
    fn aliases_cover_title_name_stem_and_hashes() {
        let model = SdModel {
            title: "SD1.5/v1-5-pruned-emaonly.safetensors [6ce0161689]".to_owned(),
            model_name: Some("SD1.5_v1-5-pruned-emaonly".to_owned()),
            hash: Some("6ce0161689".to_owned()),
            sha256: None,
        };
        let names = aliases(&model);
        for name in [
            "SD1.5/v1-5-pruned-emaonly.safetensors",
            "v1-5-pruned-emaonly",
            "SD1.5_v1-5-pruned-emaonly",
            "6ce0161689",
        ] {
            assert!(names.iter().any(|n| n == name), "{name}: {names:?}");
        }
    }
}
