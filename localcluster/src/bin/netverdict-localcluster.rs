//! A standalone front end of the local cluster (`up`, `down`, `status`, `serve`), the same
//! functions `netverdict local` exposes; used by this crate's tests to run a background instance.

use clap::{Parser, Subcommand};
use netverdict_localcluster::{DownOptions, ServeOptions, UpOptions};

#[derive(Parser)]
#[command(about = "Run an emulated Kubernetes cluster on this machine (needs root)")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Up(UpOptions),
    Down(DownOptions),
    Status,
    Serve(ServeOptions),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let result = match Args::parse().command {
        Command::Up(mut options) => {
            options.serve_args = vec!["serve".into()];
            if options.foreground {
                serve(options.serve)
            } else {
                netverdict_localcluster::up(options).map(|r| {
                    println!(
                        "{} ready: API http://{} kubeconfig {} (pid {})",
                        r.name,
                        r.api_addr,
                        r.kubeconfig.display(),
                        r.pid
                    );
                })
            }
        }
        Command::Down(options) => netverdict_localcluster::down(options)
            .map(|done| done.iter().for_each(|d| println!("{d}"))),
        Command::Status => {
            for s in netverdict_localcluster::status() {
                let api = s.api_addr.map(|a| a.to_string()).unwrap_or_default();
                let state = if s.running {
                    if s.ready { "running" } else { "starting" }
                } else {
                    "stopped"
                };
                println!("{}\t{state}\t{api}\t{}", s.name, s.kubeconfig.display());
            }
            Ok(())
        }
        Command::Serve(options) => serve(options),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn serve(options: ServeOptions) -> Result<(), netverdict_localcluster::ClusterError> {
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| netverdict_localcluster::ClusterError::Other(e.to_string()))?;
    runtime.block_on(netverdict_localcluster::serve_foreground(options))
}
