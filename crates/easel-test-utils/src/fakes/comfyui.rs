//! A fake `comfyui` backend (being built).
