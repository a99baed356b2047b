//! The `comfyui` engine against its fake (being built).
