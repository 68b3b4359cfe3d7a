fn main() -> std::process::ExitCode {
    netverdict::cli::main()
}
