//! A fake `automatic1111` backend (being built).
