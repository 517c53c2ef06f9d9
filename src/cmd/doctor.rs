//! `digest doctor`: print every check's line, exit 1 when one failed.

use crate::app::App;
use crate::doctor::{self, Level};
use crate::error::Exit;

pub fn run(app: &App) -> anyhow::Result<()> {
    let report = doctor::examine(&app.config, app.now(), app.current_week());
    crate::app::print_stdout(&report.render())?;
    match report.count(Level::Fail) {
        0 => Ok(()),
        n => Err(Exit {
            code: 1,
            message: format!(
                "{n} check{} failed: change what each FAIL line says, then run `digest doctor` again",
                if n == 1 { "" } else { "s" }
            ),
        }
        .into()),
    }
}
