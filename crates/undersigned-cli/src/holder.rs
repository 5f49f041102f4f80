//! Holder commands: get a credential, sign, withdraw, and check that a signature is in the log.

use anyhow::{anyhow, bail};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::Rng;
use rand_core::OsRng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use undersigned_core::anonymity::PublishedSets;
use undersigned_core::credential::{
    receive_credential, request_credential, Credential, IssuanceResponse,
};
use undersigned_core::entry::{
    present_with, Action, Ask, DisclosureChoice, Held, SignatureEntry, SmallOrgConsent,
};
use undersigned_core::ids::{AgeBand, Email, Epoch, IssuerId, LetterId, Role};
use undersigned_core::letter::Letter;
use undersigned_core::log::origin::{Host, LogKind, Origin};
use undersigned_core::log::{
    leaf_hash, verify_receipt, Checkpoint, LogVerifier, MerkleLog, Receipt,
};
use undersigned_core::record::LogEntry;
use undersigned_server::api::issuance::{
    CodeSent, CredentialIssued, DeploymentInfo, EpochCommitment, IssuableEpochs,
};
use undersigned_server::api::letters::LetterView;
use undersigned_server::issuers::IssuerDescription;

use crate::client::{check_letter_key, read_json, write_private, Client};

/// Where a credential of one issuer and epoch is kept: one 0600 file per epoch.
pub fn credential_path(home_dir: &Path, credential: &Credential) -> PathBuf {
    credentials_dir(home_dir).join(format!(
        "{}-{}.json",
        credential.issuer_id.to_hex().get(..16).unwrap_or_default(),
        credential.attributes.epoch
    ))
}

pub fn credentials_dir(home_dir: &Path) -> PathBuf {
    home_dir.join("credentials")
}

/// Every credential this holder keeps, oldest epoch first. Includes the single
/// `credential.json` of earlier versions.
pub fn credentials(home_dir: &Path) -> anyhow::Result<Vec<Credential>> {
    let mut out: Vec<Credential> = Vec::new();
    let legacy = home_dir.join("credential.json");
    if legacy.exists() {
        out.push(read_json(&legacy)?);
    }
    if let Ok(rd) = std::fs::read_dir(credentials_dir(home_dir)) {
        for e in rd.flatten() {
            if e.path().extension().is_some_and(|x| x == "json") {
                out.push(read_json(&e.path())?);
            }
        }
    }
    out.sort_by(|a, b| a.attributes.epoch.cmp(&b.attributes.epoch));
    Ok(out)
}

/// Gets a credential of every issuer the deployment names for every issuable epoch, and keeps
/// each in its own 0600 file; none is ever sent anywhere. Each issuer mails its own code: the
/// i-th of `codes` is for the i-th issuer, and `code_source` is asked for any not given.
pub fn request(
    client: &Client,
    home_dir: &Path,
    who: &Who<'_>,
    codes: &[String],
    code_source: &mut dyn FnMut(&IssuerAt) -> anyhow::Result<String>,
) -> anyhow::Result<Vec<Credential>> {
    let issuers = issuers_of(client)?;
    let mut all = Vec::new();
    for (i, at) in issuers.iter().enumerate() {
        let issuer = Client::new(&at.url);
        let mut source = || match codes.get(i) {
            Some(c) => Ok(c.clone()),
            None => code_source(at),
        };
        let credentials = obtain(&issuer, who.email, who.role, who.age_band, &mut source)
            .map_err(|e| anyhow!("issuer {} ({}): {e}", at.host, at.url))?;
        for c in &credentials {
            write_private(
                &credential_path(home_dir, c),
                serde_json::to_string_pretty(c)?.as_bytes(),
            )?;
        }
        all.extend(credentials);
    }
    Ok(all)
}

/// Who asks for credentials: the work address and the attributes to be attested.
pub struct Who<'a> {
    pub email: &'a str,
    pub role: &'a str,
    pub age_band: &'a str,
}

/// One issuer a holder asks: where, and the host it names itself by.
#[derive(Debug, Clone)]
pub struct IssuerAt {
    pub url: String,
    pub host: String,
    /// Its position among the deployment's issuers and how many there are.
    pub index: usize,
    pub count: usize,
}

/// The issuers to ask: the server itself when it issues (its own issuer, or an `issuer serve`),
/// else every independent issuer its deployment names, in the order it lists them.
pub fn issuers_of(client: &Client) -> anyhow::Result<Vec<IssuerAt>> {
    if client
        .get_json::<IssuableEpochs>("/api/v1/issuance/epochs", None)
        .is_ok()
    {
        let host = client
            .get_json::<IssuerDescription>("/api/v1/issuer", None)
            .map(|d| d.host)
            .unwrap_or_default();
        return Ok(vec![IssuerAt {
            url: client.base().to_owned(),
            host,
            index: 0,
            count: 1,
        }]);
    }
    let info: DeploymentInfo = client.get_json("/api/v1/deployment", None)?;
    let count = info.issuers.len();
    if count == 0 {
        bail!("the deployment names no issuer to ask for a credential");
    }
    Ok(info
        .issuers
        .into_iter()
        .enumerate()
        .map(|(index, i)| IssuerAt {
            url: i.url,
            host: i.description.host,
            index,
            count,
        })
        .collect())
}

/// Issuance from the holder's side: ask for a code at the work address, commit to a fresh nym
/// secret per issuable epoch, send the code with all the commitments, and finalize and check
/// each blind signature. Never one epoch alone: the issuer would learn which letter it is for.
pub fn obtain(
    client: &Client,
    address: &str,
    role: &str,
    age_band: &str,
    code_source: &mut dyn FnMut() -> anyhow::Result<String>,
) -> anyhow::Result<Vec<Credential>> {
    // The code goes to the address as typed: that is the mailbox the person reads.
    let typed = address.trim();
    let email = Email::parse(typed).map_err(|_| anyhow!("not a valid email address"))?;
    let role = Role::parse(role)?;
    let age = AgeBand::parse(age_band)?;
    // The issuer's own description: a letters server's issuer and an independent one (`issuer
    // serve`) both publish it.
    let info: IssuerDescription = client.get_json("/api/v1/issuer", None)?;
    // The credential holds the address as the issuer normalizes it, with the issuer's own
    // rules (its domain's rules, its organization by the subdomain rule); the finished
    // credential's check below catches a mismatch.
    let membership = info.membership();
    let sent: CodeSent = client.post_json(
        "/api/v1/issuance/code",
        &serde_json::json!({"email": typed}),
        None,
    )?;
    let code = code_source()?;
    let epochs: IssuableEpochs = client.get_json("/api/v1/issuance/epochs", None)?;
    let mut pending = Vec::new();
    let mut commitments = Vec::new();
    for e in &epochs.epochs {
        let (req, p) = request_credential(&mut OsRng)?;
        commitments.push(EpochCommitment {
            epoch: e.clone(),
            commitment: URL_SAFE_NO_PAD.encode(req.commitment),
        });
        pending.push((e.clone(), p));
    }
    let issued: CredentialIssued = client.post_json(
        "/api/v1/issuance/credential",
        &serde_json::json!({
            "email": typed,
            "code": code.trim(),
            "request_token": sent.request_token,
            "commitments": commitments,
            "role": role.as_str(),
            "age_band": age.as_str(),
        }),
        None,
    )?;
    // Pin the issuer key the issuer describes itself with, not the one in the answer alone.
    if issued.issuer_public_key != info.public_key {
        bail!("the issuer key in the answer differs from the issuer's published key");
    }
    let pk_bytes = URL_SAFE_NO_PAD.decode(&issued.issuer_public_key)?;
    let pk = undersigned_core::bbs::PublicKey::from_slice(&pk_bytes)
        .map_err(|_| anyhow!("malformed issuer key"))?;
    let mut out = Vec::new();
    for blind in &issued.credentials {
        let at = pending
            .iter()
            .position(|(e, _)| e == &blind.epoch)
            .ok_or_else(|| {
                anyhow!(
                    "the issuer answered for epoch {} it was not asked",
                    blind.epoch
                )
            })?;
        let (_, p) = pending.swap_remove(at);
        let response = IssuanceResponse::from_slices(
            &URL_SAFE_NO_PAD.decode(&blind.signature)?,
            &URL_SAFE_NO_PAD.decode(&blind.nym_entropy)?,
        )?;
        let attributes =
            membership.attributes(&email, Epoch::parse(&blind.epoch)?, role.clone(), age)?;
        out.push(receive_credential(p, &response, &pk, attributes)?);
    }
    if out.is_empty() {
        bail!("the issuer answered with no credential");
    }
    Ok(out)
}

/// The credential of the deployment's current epoch, out of one request for every issuable
/// epoch (what the demo and the benches sign with).
pub fn obtain_current(
    client: &Client,
    email: &str,
    role: &str,
    age_band: &str,
    code_source: &mut dyn FnMut() -> anyhow::Result<String>,
) -> anyhow::Result<Credential> {
    let current: IssuableEpochs = client.get_json("/api/v1/issuance/epochs", None)?;
    obtain(client, email, role, age_band, code_source)?
        .into_iter()
        .find(|c| c.attributes.epoch.as_str() == current.current)
        .ok_or_else(|| {
            anyhow!(
                "no credential of the current epoch {} was issued",
                current.current
            )
        })
}

/// The held credentials this letter is signed with: its threshold t of them, of distinct
/// issuers it accepts (each with the one epoch it accepts of that issuer), all of one address.
/// When the holder has fewer than t, the error names the issuers it lacks (by `names`, issuer
/// id to host, where known).
pub fn credentials_for(
    home_dir: &Path,
    letter: &Letter,
    names: &BTreeMap<IssuerId, String>,
) -> anyhow::Result<Vec<Credential>> {
    let held = credentials(home_dir)?;
    if held.is_empty() {
        bail!(
            "no credential in {}; run `undersigned credential request` first",
            credentials_dir(home_dir).display()
        );
    }
    pick_credentials(held, letter, names)
}

/// Of `held`, t credentials for `letter` (core's `holder::pick_credentials`); when the holder
/// has fewer, the error names the issuers it lacks by `names` (issuer id to host, where known).
pub fn pick_credentials(
    held: Vec<Credential>,
    letter: &Letter,
    names: &BTreeMap<IssuerId, String>,
) -> anyhow::Result<Vec<Credential>> {
    let m = match undersigned_core::holder::pick_credentials(held, letter) {
        Ok(picked) => return Ok(picked),
        Err(m) => m,
    };
    let name = |id: &IssuerId| {
        names
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("issuer {}", id.to_hex().get(..16).unwrap_or_default()))
    };
    let missing: Vec<String> = m
        .missing
        .iter()
        .map(|(id, epochs)| {
            let epochs: Vec<String> = epochs.iter().map(ToString::to_string).collect();
            format!("{} (epoch {})", name(id), epochs.join(", "))
        })
        .collect();
    bail!(
        "{m}; missing: {}; run `undersigned credential request` while those epochs are issuable",
        missing.join(", ")
    )
}

/// The deployment's issuers by id, named by their host.
fn issuer_names(info: &DeploymentInfo) -> BTreeMap<IssuerId, String> {
    info.issuers
        .iter()
        .map(|i| (i.description.issuer_id, i.description.host.clone()))
        .collect()
}

/// Reads the code from standard input (the person copies it from their mail); with several
/// issuers, names the one whose mail it is.
pub fn prompt_code(at: &IssuerAt) -> anyhow::Result<String> {
    if at.count > 1 {
        eprint!(
            "Code from the email of issuer {} ({} of {}): ",
            at.host,
            at.index + 1,
            at.count
        );
    } else {
        eprint!("Code from the email: ");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_owned())
}

/// What the holder keeps for each submission.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct SavedReceipt {
    pub server: String,
    pub letter_id: String,
    pub log_key: String,
    pub receipt: Receipt,
    pub entry: SignatureEntry,
    /// The deployment's witnesses when the entry was signed (verifier keys) and their
    /// quorum: `check` refuses a checkpoint they did not cosign.
    #[serde(default)]
    pub witnesses: Vec<String>,
    #[serde(default)]
    pub witness_quorum: usize,
}

pub struct SignOptions {
    pub action: Action,
    pub choice: DisclosureChoice,
    pub comment: Option<String>,
    pub consent_small_org: bool,
    /// Wait a random moment within the letter's publish interval before submitting.
    pub random_delay: bool,
}

pub fn submit(
    client: &Client,
    home_dir: &Path,
    letter_key: &str,
    opts: &SignOptions,
) -> anyhow::Result<SavedReceipt> {
    check_letter_key(letter_key)?;
    let info: DeploymentInfo = client.get_json("/api/v1/deployment", None)?;
    let view: LetterView = client.get_json(&format!("/api/v1/letters/{letter_key}"), None)?;
    let credentials = credentials_for(home_dir, &view.letter, &issuer_names(&info))?;
    submit_with(client, home_dir, &credentials, letter_key, opts)
}

/// Signs or withdraws with t of `held` (see `pick_credentials`): the composite entry, its
/// receipt checked against the deployment's log key, and kept.
pub fn submit_with(
    client: &Client,
    home_dir: &Path,
    held: &[Credential],
    letter_key: &str,
    opts: &SignOptions,
) -> anyhow::Result<SavedReceipt> {
    let info: DeploymentInfo = client.get_json("/api/v1/deployment", None)?;
    let view: LetterView = client.get_json(&format!("/api/v1/letters/{letter_key}"), None)?;
    let letter = view.letter.clone().canonicalize()?;
    let letter_id = letter.id();
    if view.letter_id.as_deref() != Some(letter_id.to_hex().as_str()) {
        bail!("the server's letter id does not match its text: refusing to sign");
    }
    let credentials = pick_credentials(held.to_vec(), &letter, &issuer_names(&info))?;
    let entry = build_entry(client, &credentials, &letter, opts)?;
    if opts.random_delay {
        let secs = OsRng.gen_range(0..letter.policy.publish_interval_secs.max(1));
        eprintln!("Waiting {secs} s before submitting, so the arrival time says less about you.");
        std::thread::sleep(std::time::Duration::from_secs(secs));
    }
    let vkey = pinned_vkey(&info, &view, &letter_id.to_hex())?;
    let receipt: Receipt = client.post_json(
        &format!("/api/v1/letters/{}/entries", letter_id.to_hex()),
        &entry,
        None,
    )?;
    let verifier = LogVerifier::from_vkey(&vkey).map_err(|e| anyhow!("log key: {e}"))?;
    verify_receipt(&receipt, &verifier).map_err(|e| anyhow!("the receipt does not verify: {e}"))?;
    let leaf = LogEntry::submission(entry.clone()).leaf_bytes();
    if receipt.entry_hash != leaf_hash(&leaf) || receipt.letter_id != letter_id.0 {
        bail!("the receipt is for a different entry than the one submitted");
    }
    let saved = SavedReceipt {
        server: client.base().to_owned(),
        letter_id: letter_id.to_hex(),
        log_key: vkey,
        receipt,
        entry,
        witnesses: info.witnesses.clone(),
        witness_quorum: info.witness_quorum,
    };
    let path = home_dir.join("receipts").join(format!(
        "{}-{}.json",
        &saved.letter_id[..16],
        hex::encode(&saved.receipt.entry_hash[..8])
    ));
    write_private(&path, serde_json::to_string_pretty(&saved)?.as_bytes())?;
    Ok(saved)
}

/// The composite entry of `credentials` (t of them), with each issuer's published anonymity
/// sets applied to the small-cell rule.
fn build_entry(
    client: &Client,
    credentials: &[Credential],
    letter: &Letter,
    opts: &SignOptions,
) -> anyhow::Result<SignatureEntry> {
    let mut sets = Vec::with_capacity(credentials.len());
    for c in credentials {
        let s: PublishedSets = client.get_json(
            &format!(
                "/api/v1/issuer/anonymity-sets?epoch={}&issuer={}",
                c.attributes.epoch, c.issuer_id
            ),
            None,
        )?;
        sets.push(s);
    }
    let held: Vec<Held<'_>> = credentials
        .iter()
        .zip(&sets)
        .map(|(credential, sets)| Held { credential, sets })
        .collect();
    let ask = Ask {
        action: opts.action,
        choice: opts.choice,
        comment: opts.comment.as_deref(),
        consent: if opts.consent_small_org {
            SmallOrgConsent::Given
        } else {
            SmallOrgConsent::NotGiven
        },
    };
    present_with(&held, letter, &ask, &mut OsRng).map_err(|e| match e {
        undersigned_core::PresentError::SmallOrgNeedsConsent(k) => anyhow!(
            "fewer than {k} people of your organization hold a credential, so a signature from it narrows down who you are; pass --consent-small-org to sign anyway"
        ),
        other => anyhow!(other),
    })
}

/// The letter's log key, accepted only if it is the deployment's key under the letter's origin.
fn pinned_vkey(
    info: &DeploymentInfo,
    view: &LetterView,
    letter_id: &str,
) -> anyhow::Result<String> {
    let vkey = view
        .log_key
        .clone()
        .ok_or_else(|| anyhow!("the letter is not open"))?;
    let v = LogVerifier::from_vkey(&vkey).map_err(|e| anyhow!("log key: {e}"))?;
    let host = Host::parse(&info.host).map_err(|e| anyhow!("the deployment's host: {e}"))?;
    let expected = LetterId::from_hex(letter_id)
        .ok()
        .map(|id| Origin::new(host, LogKind::Letter, id.0).to_string());
    if hex::encode(v.verifying_key().to_bytes()) != info.log_public_key
        || Some(v.name()) != expected.as_deref()
    {
        bail!("the letter's log key is not the deployment's log key for this letter");
    }
    Ok(vkey)
}

/// The outcome of checking a receipt against the server's log.
#[derive(Debug)]
pub enum CheckOutcome {
    Included {
        index: u64,
        size: u64,
        consistent_from: Option<u64>,
    },
    Pending {
        include_by: u64,
    },
}

/// Checks a saved receipt: the checkpoint is signed by the pinned log key, the entry is in the
/// tree it commits to, and that tree extends the last checkpoint this holder saw.
///
/// The log was read as tlog-tiles (`cover::check_receipts`, from the server itself or a CDN
/// copy of it): every level-0 tile, never a proof for one entry, so whoever serves the tiles
/// does not learn which entry is this holder's.
pub fn check(
    log: &crate::tiles::FetchedLog,
    home_dir: &Path,
    saved: &SavedReceipt,
    now: u64,
) -> anyhow::Result<CheckOutcome> {
    let verifier = LogVerifier::from_vkey(&saved.log_key).map_err(|e| anyhow!("log key: {e}"))?;
    verify_receipt(&saved.receipt, &verifier)
        .map_err(|e| anyhow!("the receipt itself does not verify: {e}"))?;
    let id = &saved.letter_id;
    check_letter_key(id)?;
    let note = log.note.clone();
    // The receipt's key was pinned under the letter's exact origin when it was signed; the
    // checkpoint must carry that origin, byte for byte, in its one spelling.
    let origin =
        Origin::parse(verifier.name()).map_err(|e| anyhow!("the receipt's log key: {e}"))?;
    if origin.kind != LogKind::Letter || hex::encode(origin.id) != *id {
        bail!("the receipt's log key is not for letter {id}");
    }
    let cp = Checkpoint::open(&note, &verifier, Some(verifier.name()))
        .map_err(|e| anyhow!("the checkpoint does not verify: {e}"))?;
    if !saved.witnesses.is_empty() {
        undersigned_core::pins::Pins::default()
            .with_witnesses(saved.witnesses.clone(), Some(saved.witness_quorum))?
            .check_cosignatures(&note)
            .map_err(|e| anyhow!("the checkpoint lacks its witnesses' cosignatures: {e}"))?;
    }
    let tree = MerkleLog::from_leaf_hashes(log.leaf_hashes(cp.size)?);
    if tree.root() != cp.root {
        bail!(
            "the log's tiles do not hash to the signed checkpoint of size {}",
            cp.size
        );
    }
    // Consistency with the last checkpoint we saw for this letter: the tree the signed
    // checkpoint commits to had, at the old size, the old root.
    let seen_path = home_dir.join("checkpoints").join(format!("{id}.txt"));
    let mut consistent_from = None;
    if let Ok(old_note) = std::fs::read_to_string(&seen_path) {
        let old = Checkpoint::open(&old_note, &verifier, None)
            .map_err(|e| anyhow!("saved checkpoint: {e}"))?;
        if tree.root_at(old.size).ok() != Some(old.root) {
            bail!(
                "THE LOG WAS REWRITTEN: checkpoint {} is not an extension of the one seen earlier ({})",
                cp.size,
                old.size
            );
        }
        consistent_from = Some(old.size);
    }
    let Some(index) = tree
        .leaf_hashes()
        .iter()
        .position(|h| *h == saved.receipt.entry_hash)
    else {
        if now > saved.receipt.include_by {
            bail!("PROMISE BROKEN: the receipt promised inclusion by {} but the entry is still not in the log", saved.receipt.include_by);
        }
        return Ok(CheckOutcome::Pending {
            include_by: saved.receipt.include_by,
        });
    };
    write_private(&seen_path, note.as_bytes())?;
    Ok(CheckOutcome::Included {
        index: index as u64,
        size: cp.size,
        consistent_from,
    })
}

/// Latest receipts in the holder's directory, newest first.
pub fn receipts(home_dir: &Path) -> anyhow::Result<Vec<(PathBuf, SavedReceipt)>> {
    let dir = home_dir.join("receipts");
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            if let Ok(r) = read_json::<SavedReceipt>(&e.path()) {
                out.push((e.path(), r));
            }
        }
    }
    out.sort_by_key(|(_, r)| std::cmp::Reverse(r.receipt.received_at));
    Ok(out)
}

/// What `credential import` took from a browser backup.
#[derive(Debug, Default)]
pub struct Imported {
    /// Credentials now kept in their own files.
    pub credentials: Vec<Credential>,
    /// Credentials of an issuer and epoch this holder already kept (the kept one stays).
    pub already_held: usize,
    /// Letters whose last seen checkpoint was taken, so `check` holds the log to it.
    pub checkpoints: usize,
    /// Receipts left behind: the browser keeps only the receipt, and `check` needs the entry.
    pub receipts_left: usize,
}

/// Opens a backup written by the browser (format v1 or v2, core's `backup`) and keeps what
/// the CLI can use: every credential in its own 0600 file, and each letter's last seen
/// checkpoint where this holder has seen none, so a log rewritten since the browser's last
/// check is still noticed. A file already kept is never replaced: both devices checked theirs.
pub fn import_backup(
    home_dir: &Path,
    backup_text: &str,
    passphrase: &str,
) -> anyhow::Result<Imported> {
    let state = undersigned_core::backup::open_state(backup_text, passphrase)?;
    let mut imported = Imported {
        receipts_left: state.receipts.values().map(Vec::len).sum(),
        ..Imported::default()
    };
    for credential in state.credentials {
        let path = credential_path(home_dir, &credential);
        if path.exists() {
            imported.already_held += 1;
            continue;
        }
        write_private(&path, serde_json::to_string_pretty(&credential)?.as_bytes())?;
        imported.credentials.push(credential);
    }
    for (letter_id, note) in &state.checkpoints {
        // The state's letter ids are 64 hex digits (core checked); the CLI names files in
        // lowercase, as `check` writes them.
        let path = home_dir
            .join("checkpoints")
            .join(format!("{}.txt", letter_id.to_ascii_lowercase()));
        if !path.exists() {
            write_private(&path, note.as_bytes())?;
            imported.checkpoints += 1;
        }
    }
    Ok(imported)
}

/// The backup's passphrase: from a file, or a line typed on standard input.
pub fn read_passphrase(file: Option<&Path>) -> anyhow::Result<zeroize::Zeroizing<String>> {
    let mut line = zeroize::Zeroizing::new(String::new());
    match file {
        Some(path) => {
            *line = std::fs::read_to_string(path)
                .map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
        }
        None => {
            eprint!("Passphrase of the backup: ");
            std::io::stdin().lock().read_line(&mut line)?;
        }
    }
    // Only the line's end goes: spaces inside or around a passphrase are part of it.
    let end = line.trim_end_matches(['\r', '\n']).len();
    line.truncate(end);
    Ok(line)
}
