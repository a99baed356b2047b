//! `/v1/payments/…`: payment providers telling Easel that credits were paid for. These
//! routes take no API key: the provider's signature is the permission.

pub mod stripe;
