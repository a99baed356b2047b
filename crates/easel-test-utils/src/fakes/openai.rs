//! A fake `openai` backend (being built).
