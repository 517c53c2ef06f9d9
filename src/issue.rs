//! The week's issue as `send` mails it and `preview` shows it.
//!
//! A week that was frozen already (its sending started) is the frozen
//! selection and subject, whatever the glossary says now; a later week is a
//! fresh selection against the issues sent so far. `preview`, `send`, a dry
//! run and a test send all come through here, so a preview always shows
//! what the send will be.

use crate::config::Config;
use crate::content::{self, Glossary};
use crate::delivery::Counts;
use crate::mail::{MessageFactory, dkim_config};
use crate::render::{IssueView, Templates};
use crate::select::{Selection, select};
use crate::store::Store;
use crate::timestamp::Timestamp;
use crate::week::IssueWeek;

/// The week's selection and the view the templates render: the frozen
/// selection and subject for a frozen week, else a fresh selection.
pub fn view(
    config: &Config,
    store: Option<&Store>,
    glossary: &Glossary,
    week: IssueWeek,
    feature: Option<&str>,
) -> anyhow::Result<(Selection, IssueView)> {
    let (selection, frozen_subject) = self::selection(store, glossary, week, feature)?;
    let mut view = IssueView::new(&config.newsletter, glossary, &selection)?;
    if frozen_subject.is_some() {
        view.fixed_subject = frozen_subject;
        view.frozen = true;
    }
    Ok((selection, view))
}

/// The selection for `week`, and the frozen subject when it was frozen.
pub fn selection(
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

/// Everything needed to build the week's messages.
pub struct Issue {
    pub selection: Selection,
    /// True when the week was frozen before this run.
    pub frozen: bool,
    pub factory: MessageFactory,
}

impl Issue {
    /// Load the glossary, templates and DKIM key, select the week's terms
    /// and render every variant once.
    pub fn prepare(
        config: &Config,
        store: Option<&Store>,
        week: IssueWeek,
        feature: Option<&str>,
    ) -> anyhow::Result<Issue> {
        let dir = &config.paths.content;
        let glossary = content::load(dir)?.into_result(dir)?;
        let templates = Templates::load(&config.paths.templates)?;
        let dkim = config.dkim.as_ref().map(dkim_config).transpose()?;
        let (selection, view) = self::view(config, store, &glossary, week, feature)?;
        let frozen = view.frozen;
        let factory = MessageFactory::new(&config.newsletter, &templates, &view, dkim)?;
        Ok(Issue {
            selection,
            frozen,
            factory,
        })
    }
}

/// What freezing the week did.
#[derive(Debug, Clone, Copy)]
pub struct Queued {
    /// Subscribers queued now, when this call froze the issue.
    pub froze: Option<u64>,
    /// Failed rows queued again (`--retry-failed`).
    pub requeued: u64,
    /// The week's ledger, ready to send.
    pub counts: Counts,
}

impl Issue {
    /// Freeze the week's issue (the first time) with one queued row per
    /// active subscriber, and with `retry_failed` queue the failed rows of
    /// still-active subscribers again.
    pub fn freeze(
        &self,
        store: &mut Store,
        now: Timestamp,
        retry_failed: bool,
    ) -> anyhow::Result<Queued> {
        let week = self.selection.week;
        let frozen = store.freeze(&self.selection, self.factory.subject(), now)?;
        let requeued = if retry_failed {
            store.requeue_failed(week)?
        } else {
            0
        };
        Ok(Queued {
            froze: frozen.new.then_some(frozen.queued_now),
            requeued,
            counts: store.counts(week)?,
        })
    }
}
