//! `easel serve`.

use clap::Args;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::server::{self, Running};

/// Flags of `easel serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080; also EASEL_LISTEN).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}

/// Runs the server until SIGTERM or Ctrl-C.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let addr = config.listen_addr();
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let public_url = config.public_url();
    server::run(config, listener, server::shutdown_signal(), |running| {
        print_banner(running, &public_url)
    })
    .await
}

/// What the operator sees on start; the secrets only on the very first one.
fn print_banner(running: &Running, public_url: &str) {
    println!("Easel is running: {public_url}");
    println!("  home:      {public_url}/");
    println!("  console:   {public_url}/console");
    println!("  API docs:  {public_url}/docs/api");
    println!("  OpenAPI:   {public_url}/openapi.json");
    // Last of the lines every start prints: the process tests read up to it.
    println!("  database:  {}", running.app.store.dialect());
    if let Some(first) = &running.first_start {
        println!();
        println!("First start: save these now, they are not shown again.");
        println!(
            "  operator login:  {} / {}",
            first.operator_username, first.operator_password
        );
        println!(
            "  demo account:    {} (owner {})",
            first.demo_account_id, first.demo_owner_email
        );
        println!("  test API key:    {}", first.test_key);
        println!();
        println!("Try it (getting started: {public_url}/docs):");
        println!(
            "  curl -H 'Authorization: Bearer {}' {public_url}/v1/account",
            first.test_key
        );
    }
}
