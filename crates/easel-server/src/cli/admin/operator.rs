//! `easel admin operator passwd`: sets an operator's password and ends every session of
//! theirs, in one transaction (a stolen session dies with the old password).

use anyhow::Context;
use clap::Subcommand;
use easel_core::password;
use serde::Serialize;

use crate::app::App;
use crate::cli::output::emit;

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Sets an operator's password, read from the first line of stdin (so it stays out of
    /// the shell history and the process list), and signs them out everywhere.
    Passwd {
        /// The operator's username.
        username: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Serialize)]
struct PasswdView {
    operator_id: String,
    username: String,
    sessions_ended: u64,
}

pub async fn run(app: &App, command: OperatorCommand) -> anyhow::Result<()> {
    match command {
        OperatorCommand::Passwd { username, json } => passwd(app, &username, json).await,
    }
}

async fn passwd(app: &App, username: &str, json: bool) -> anyhow::Result<()> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the new password from stdin")?;
    let new = line.trim_end_matches(['\r', '\n']).to_string();
    if new.chars().count() < password::MIN_LEN || new.len() > password::MAX_LEN {
        anyhow::bail!(
            "the password must have {} to {} characters",
            password::MIN_LEN,
            password::MAX_LEN
        );
    }
    let operator = match app.store.get_operator(username).await {
        Ok(op) => op,
        Err(easel_db::DbError::NotFound) => anyhow::bail!("no operator named {username:?}"),
        Err(e) => return Err(e.into()),
    };
    let hash =
        password::hash(&new).map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
    let ended = app
        .store
        .set_operator_password(&operator.id, &hash, super::audit())
        .await?;
    let view = PasswdView {
        operator_id: operator.id,
        username: operator.username,
        sessions_ended: ended,
    };
    emit(json, &view, || {
        format!(
            "Password of {} changed; {} console session(s) ended.",
            view.username, view.sessions_ended
        )
    })
}
