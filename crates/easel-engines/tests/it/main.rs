//! Integration tests of `easel-engines` through its public API only: the sandbox's
//! determinism, pictures, metadata, videos (checked with ffprobe), settings and edge inputs.
//! One binary per crate, as STYLE.md 2.7 asks.

mod automatic1111;
mod comfyui;
mod edge;
mod helpers;
mod image;
mod openai;
mod settings;
mod video;
