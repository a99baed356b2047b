//! The `easel` binary.

fn main() -> std::process::ExitCode {
    easel_server::cli::main()
}
