//! `undersigned issuer serve`: an issuer on its own, run by an organization of its own (a
//! newsroom, a union, a law clinic) apart from any letters deployment: its own data directory,
//! BBS key, address-tag key, mail relay and code mails, its own signed statement log cosigned
//! by its witnesses, and only the issuer's routes (`GET /api/v1/issuer`, issuance, the
//! statement log), open to any origin (CORS). The same platform and issuance code as the
//! issuer inside `serve`; only the routes and the epochs differ.

use anyhow::anyhow;
use std::path::PathBuf;
use undersigned_core::ids::Epoch;
use undersigned_server::config::IssuerEpochs;

use crate::serve;

#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Run an issuer on its own: code mails and blind credentials for the work addresses of
    /// the organizations in its deployment file, and its signed statement log. No letters.
    Serve(Box<IssuerServe>),
}

#[derive(clap::Args, Debug, Clone)]
pub struct IssuerServe {
    /// The same settings as `serve` (deployment file, mail relay, witnesses, data directory);
    /// `--data` defaults to `undersigned-issuer-data` and the address-tag key to
    /// `issuer-tag.key` beside serve's.
    #[command(flatten)]
    pub serve: serve::Args,
    /// The epochs it issues (repeatable or comma-separated). Default: the current calendar
    /// quarter and the next (or the fixed `--epoch` alone): an issuer knows no letters, and a
    /// letter may accept an epoch only if each of its issuers issues it.
    #[arg(long, value_name = "EPOCH", value_delimiter = ',')]
    pub epochs: Vec<String>,
}

pub fn run(cmd: Cmd) -> anyhow::Result<()> {
    let Cmd::Serve(args) = cmd;
    let serve_args = settings(*args)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(serve::run_surface(serve_args, serve::Surface::Issuer))
}

/// `serve`'s settings as an issuer runs them.
fn settings(args: IssuerServe) -> anyhow::Result<serve::Args> {
    let mut s = args.serve;
    if !s.issuers.is_empty() {
        return Err(anyhow!(
            "--issuer names the issuers a letters deployment accepts; an issuer does not name others"
        ));
    }
    if s.tiles_dir.is_some() {
        return Err(anyhow!("--tiles-dir: an issuer has no letters to tile"));
    }
    let file_names_data = match &s.config {
        Some(path) => undersigned_server::deployment::load(path)?.data.is_some(),
        None => false,
    };
    if s.data.is_none() && !file_names_data {
        s.data = Some(PathBuf::from("undersigned-issuer-data"));
    }
    if s.tag_key_file.is_none() {
        // Apart from a letters server's own issuer key on the same machine.
        s.tag_key_file = undersigned_server::keys::default_tag_key_path()
            .map(|p| p.with_file_name("issuer-tag.key"));
    }
    s.issuer_epochs = if !args.epochs.is_empty() {
        IssuerEpochs::Fixed(
            args.epochs
                .iter()
                .map(|e| Epoch::parse(e).map_err(|err| anyhow!("--epochs {e:?}: {err}")))
                .collect::<anyhow::Result<_>>()?,
        )
    } else if let Some(e) = &s.epoch {
        // A fixed epoch (a test, or a deployment that names its epochs) is issued alone.
        IssuerEpochs::Fixed(vec![Epoch::parse(e)?])
    } else {
        IssuerEpochs::CurrentAndNext
    };
    Ok(s)
}
