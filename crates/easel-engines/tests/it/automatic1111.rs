//! The `automatic1111` engine against its fake (being built).
