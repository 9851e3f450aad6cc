//! `ferry users create|delete|list`: client users of a cluster with
//! `security.client_auth = "basic"`. The new user's password comes from
//! stdin (`--password-stdin`, first line) or `--new-password` /
//! `FERRY_NEW_PASSWORD`; it is never printed.

use crate::context::Ctx;
use crate::output::print_json;
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use std::io::BufRead;

#[derive(Subcommand)]
pub enum UsersCmd {
    /// Create a user, or set a new password for an existing one.
    Create {
        name: String,
        /// Read the new password from the first line of stdin.
        #[arg(long, conflicts_with = "new_password")]
        password_stdin: bool,
        /// The new password (visible to other local users in the process
        /// list; prefer --password-stdin or the environment variable).
        #[arg(long, env = "FERRY_NEW_PASSWORD", hide_env_values = true)]
        new_password: Option<String>,
        /// PBKDF2 iterations (4096 to 16384; default 4096).
        #[arg(long)]
        iterations: Option<u32>,
    },
    /// Delete a user.
    Delete { name: String },
    /// List users: name, mechanism, iterations.
    List,
}

pub async fn run(ctx: &Ctx, cmd: UsersCmd) -> Result<()> {
    let admin = ctx.admin()?;
    match cmd {
        UsersCmd::Create {
            name,
            password_stdin,
            new_password,
            iterations,
        } => {
            let password = match (password_stdin, new_password) {
                (true, _) => first_line()?,
                (false, Some(p)) => p,
                (false, None) => bail!(
                    "give the new password with --password-stdin, --new-password or FERRY_NEW_PASSWORD"
                ),
            };
            let user = admin.upsert_user(&name, &password, iterations).await?;
            if ctx.json {
                return print_json(&user);
            }
            println!(
                "User {} set ({:?}, {} iterations)",
                user.name, user.mechanism, user.iterations
            );
        }
        UsersCmd::Delete { name } => {
            admin.delete_user(&name).await?;
            if ctx.json {
                return print_json(&serde_json::json!({"name": name, "deleted": true}));
            }
            println!("Deleted user {name}");
        }
        UsersCmd::List => {
            let users = admin.list_users().await?;
            if ctx.json {
                return print_json(&users);
            }
            for u in users {
                println!("{:<32} SCRAM-SHA-256 iterations={}", u.name, u.iterations);
            }
        }
    }
    Ok(())
}

fn first_line() -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        bail!("stdin held no password");
    }
    Ok(password)
}
