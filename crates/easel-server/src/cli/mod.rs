//! The `easel` command line: `serve`, `migrate`, `admin …`, `worker`.

mod admin;
pub(crate) mod output;
mod serve;
mod worker;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{self, Config};

/// Easel: sell AI image and video generation through an HTTP API.
#[derive(Debug, Parser)]
#[command(name = "easel", version, about, long_about = None)]
pub struct Cli {
    /// Config file (TOML). Every setting can also come from EASEL_* environment variables.
    #[arg(long, global = true, env = "EASEL_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory: the SQLite database and local outputs (default ./easel-data).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "EASEL_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (migrates the database on start).
    Serve(serve::ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Operator tools, on the same database as the server.
    #[command(subcommand)]
    Admin(Box<admin::AdminCommand>),
    /// Run jobs for a remote Easel server on this machine's backend (a pull worker, with a
    /// worker token; needs no config file or database).
    Worker(Box<worker::WorkerArgs>),
}

/// Parses the command line, runs the command, and maps failure to a one-line error on
/// stderr and a non-zero exit status.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version go to stdout as clap prints them.
        Err(e) if !e.use_stderr() => e.exit(),
        // A usage error is one line on stderr, like every other failure; `--help` has more.
        Err(e) => {
            let rendered = e.to_string();
            let first = rendered
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("error: invalid arguments");
            eprintln!("{first} (see --help)");
            return ExitCode::from(2);
        }
    };
    let long_running = matches!(cli.command, Command::Serve(_) | Command::Worker(_));
    init_logging(cli.log_format, long_running);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line.
fn one_line(e: &anyhow::Error) -> String {
    e.chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
        .replace('\n', " ")
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut overrides = Vec::new();
    if let Some(dir) = &cli.data_dir {
        overrides.push(("data_dir", dir.display().to_string()));
    }
    if let Command::Serve(args) = &cli.command
        && let Some(listen) = &args.listen
    {
        overrides.push(("listen", listen.clone()));
    }
    let config = || load_config(cli.config.as_deref(), &overrides);
    match cli.command {
        Command::Serve(_) => serve::serve(config()?).await,
        Command::Migrate => {
            let store = crate::server::open_store(&config()?).await?;
            println!("migrations applied ({})", store.dialect());
            Ok(())
        }
        Command::Admin(command) => admin::run(config()?, *command).await,
        // A worker runs on a GPU machine: it reads neither the server's config nor its
        // database, only its own flags.
        Command::Worker(args) => worker::run(*args).await,
    }
}

fn load_config(
    file: Option<&std::path::Path>,
    overrides: &[(&str, String)],
) -> anyhow::Result<Config> {
    config::load(file, overrides).map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))
}

fn init_logging(format: LogFormat, serving: bool) {
    use tracing_subscriber::EnvFilter;
    // Admin commands log only warnings so their stdout stays clean and stderr quiet (a
    // failure is one line there); the server and a worker run for long and say what they
    // do. A slow statement in a one-off command is nothing its user can act on: sqlx's
    // warning about one stays in the server's logs only.
    let default = if serving {
        "info,sqlx=warn,tower_http=info"
    } else {
        "warn,sqlx=error"
    };
    let filter = EnvFilter::try_from_env("EASEL_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
