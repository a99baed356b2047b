//! The `openai` engine against its fake (being built).
