//! The `hookline` binary: parse the command line, load configuration, run.

use clap::{Args, Parser, Subcommand};
use hookline::{Application, Config, Role};
use std::path::PathBuf;
use std::process::ExitCode;

/// The delivery hot path allocates many small, short-lived buffers across threads (request
/// and response bodies, headers, rows), where mimalloc spends a fraction of the time the
/// system allocator does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Resilient outbound webhook delivery, wire-compatible with the Svix v1 API.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API and delivery workers in one process.
    Serve(Server),
    /// Run the management API only.
    Api(Server),
    /// Run delivery workers only.
    Worker(Server),
    /// Apply database migrations and exit.
    Migrate(Server),
    /// Client subcommands: talk to a running server over its API.
    #[command(flatten)]
    Client(Box<hookline::cli::Command>),
}

/// What every server subcommand takes. Client subcommands talk to a server: its
/// configuration is not theirs to load.
#[derive(Args)]
struct Server {
    /// Configuration file (TOML, same keys as the HOOKLINE_* variables, lower case without
    /// the prefix). Defaults to ./hookline.toml when it exists.
    #[arg(long, env = "HOOKLINE_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    // `None` is `migrate`.
    let (role, server) = match Cli::parse().command {
        Command::Serve(server) => (Some(Role::Serve), server),
        Command::Api(server) => (Some(Role::Api), server),
        Command::Worker(server) => (Some(Role::Worker), server),
        Command::Migrate(server) => (None, server),
        Command::Client(command) => return hookline::cli::run(*command).await,
    };
    let config = match Config::load(server.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hookline: {e}");
            return ExitCode::from(2);
        }
    };
    hookline::telemetry::init(config.log_format);
    match role {
        Some(role) => report(run(config, role).await),
        None => report(migrate(config).await),
    }
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    hookline::open_store(&config, true).await?;
    eprintln!("hookline: migrations applied to {}", config.database_url);
    Ok(())
}

async fn run(config: Config, role: Role) -> anyhow::Result<()> {
    let app = Application::build(config, role).await?;
    if let (Some(token), Some(port)) = (app.generated_token(), app.port()) {
        print_first_start(token, port);
    }
    app.run_until_stopped(hookline::telemetry::shutdown_signal())
        .await
}

fn print_first_start(token: &str, port: u16) {
    println!(
        "\nHookline generated an API token. It is shown only this once; keep it safe:\n\n    \
         {token}\n\nTry it:\n\n    curl -s -H 'Authorization: Bearer {token}' \
         -H 'Content-Type: application/json' \\\n      -d '{{\"name\": \"My first app\"}}' \
         http://127.0.0.1:{port}/api/v1/app/\n"
    );
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hookline: {e:#}");
            ExitCode::FAILURE
        }
    }
}
