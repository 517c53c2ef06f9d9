//! One file per subcommand.

pub mod history;
pub mod preview;
pub mod send;
pub mod serve;
pub mod subscribe;
pub mod subscribers;
pub mod terms;

use crate::content::Glossary;
use crate::select::{Selection, select};
use crate::store::Store;
use crate::week::IssueWeek;

/// The issue of `week` as `send` would mail it: the frozen issue (selection
/// and subject) when the week was sent already, otherwise a fresh selection
/// against the issues sent so far. `preview` and `send` both go through
/// here, so a preview always shows what the send will be.
pub fn issue_for(
    store: Option<&Store>,
    glossary: &Glossary,
    week: IssueWeek,
    feature: Option<&str>,
) -> anyhow::Result<(Selection, Option<String>)> {
    if let Some(store) = store
        && let Some(frozen) = store.issue(week)?
    {
        if let Some(slug) = feature
            && slug != frozen.selection.featured
        {
            crate::bad_input!(
                "{week} was already sent, featuring `{}`; --feature only applies to weeks not sent yet",
                frozen.selection.featured
            );
        }
        return Ok((frozen.selection, Some(frozen.subject)));
    }
    let history = match store {
        Some(store) => store.past_issues()?,
        None => Vec::new(),
    };
    let selection = select(glossary, &history, week, feature)
        .map_err(|e| crate::error::InputError(e.to_string()))?;
    Ok((selection, None))
}
