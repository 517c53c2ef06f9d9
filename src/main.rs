use std::process::ExitCode;

fn main() -> ExitCode {
    match glossary_digest::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(glossary_digest::error::exit_code(&err))
        }
    }
}
