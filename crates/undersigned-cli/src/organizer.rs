//! Organizer commands: create a letter, open it (freezing text and policy), close it.

use anyhow::Context;
use std::path::Path;
use undersigned_core::letter::{AllowedDisclosures, Recipient, Visibility};
use undersigned_server::api::letters::{Closed, Created, LetterInput, Opened, PolicyInput};

use crate::client::{check_letter_key, write_private, Client};

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    #[arg(long)]
    pub title: String,
    /// A Markdown file with the letter's text.
    #[arg(long)]
    pub body_file: std::path::PathBuf,
    /// Recipient as `Name <address>` or `Name <address> (Role)`; repeatable.
    #[arg(long = "recipient")]
    pub recipients: Vec<String>,
    /// Accepted organization domains (repeatable); default every organization of the deployment.
    #[arg(long = "org")]
    pub orgs: Vec<String>,
    #[arg(long)]
    pub allow_role: bool,
    #[arg(long)]
    pub allow_age_band: bool,
    /// Allow named signatures (the signer chooses to show their address).
    #[arg(long)]
    pub allow_email: bool,
    /// Small-cell threshold for this letter (at least the deployment's).
    #[arg(long)]
    pub k: Option<u32>,
    /// Days from now until the deadline.
    #[arg(long, default_value_t = 30)]
    pub deadline_days: u64,
    /// Seconds between published batches.
    #[arg(long)]
    pub publish_interval: Option<u64>,
    /// Only recipients and link holders may read the letter and its tally.
    #[arg(long)]
    pub recipients_only: bool,
    /// Days the recipients have to answer after delivery (default 30).
    #[arg(long)]
    pub response_days: Option<u32>,
    /// Days after delivery to remind unanswered recipients (repeatable).
    #[arg(long = "remind-after")]
    pub reminder_days: Vec<u32>,
    /// The credential epoch the letter accepts (default: the current one). It must be issuable:
    /// the current epoch or one an open letter already accepts. A letter accepts exactly one.
    #[arg(long = "epoch")]
    pub epochs: Vec<String>,
    /// How many of the deployment's issuers every signature needs (t, with n/2 < t <= n);
    /// default: all of them.
    #[arg(long)]
    pub threshold: Option<u32>,
}

pub fn parse_recipient(s: &str) -> anyhow::Result<Recipient> {
    let (name, rest) = s
        .split_once('<')
        .context("recipient must look like \"Name <address>\"")?;
    let (address, rest) = rest
        .split_once('>')
        .context("recipient must look like \"Name <address>\"")?;
    let role = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .map(|r| r.trim().to_owned());
    Ok(Recipient {
        name: name.trim().to_owned(),
        address: address.trim().to_owned(),
        role,
    })
}

pub fn input(a: &CreateArgs, now: u64) -> anyhow::Result<LetterInput> {
    let body = std::fs::read_to_string(&a.body_file)
        .with_context(|| format!("cannot read {}", a.body_file.display()))?;
    Ok(LetterInput {
        title: a.title.clone(),
        body,
        recipients: a
            .recipients
            .iter()
            .map(|r| parse_recipient(r))
            .collect::<anyhow::Result<_>>()?,
        policy: PolicyInput {
            threshold: a.threshold,
            orgs: a.orgs.clone(),
            disclosures: AllowedDisclosures {
                role: a.allow_role,
                age_band: a.allow_age_band,
                email: a.allow_email,
            },
            k: a.k,
            deadline: now + a.deadline_days * 86_400,
            visibility: if a.recipients_only {
                Visibility::RecipientsOnly
            } else {
                Visibility::Public
            },
            publish_interval_secs: a.publish_interval,
            epochs: a.epochs.clone(),
            issuers: vec![],
            comments: None,
        },
        response_days: a.response_days,
        reminder_days: a.reminder_days.clone(),
    })
}

pub fn create(client: &Client, home_dir: &Path, input: &LetterInput) -> anyhow::Result<Created> {
    let created: Created = client.post_json("/api/v1/letters", input, None)?;
    // The token is the only key to the letter; keep it like a password.
    write_private(
        &home_dir
            .join("organizer")
            .join(format!("{}.token", created.handle)),
        created.organizer_token.as_bytes(),
    )?;
    Ok(created)
}

pub fn token_for(
    home_dir: &Path,
    handle: &str,
    explicit: Option<String>,
) -> anyhow::Result<String> {
    if let Some(t) = explicit {
        return Ok(t);
    }
    let path = home_dir.join("organizer").join(format!("{handle}.token"));
    Ok(std::fs::read_to_string(&path)
        .with_context(|| {
            format!(
                "no organizer token for {handle} (pass --token or keep {})",
                path.display()
            )
        })?
        .trim()
        .to_owned())
}

pub fn open(client: &Client, handle: &str, token: &str) -> anyhow::Result<Opened> {
    check_letter_key(handle)?;
    client.post_json(
        &format!("/api/v1/letters/{handle}/open"),
        &serde_json::json!({}),
        Some(token),
    )
}

pub fn close(client: &Client, handle: &str, token: &str) -> anyhow::Result<Closed> {
    check_letter_key(handle)?;
    client.post_json(
        &format!("/api/v1/letters/{handle}/close"),
        &serde_json::json!({}),
        Some(token),
    )
}
