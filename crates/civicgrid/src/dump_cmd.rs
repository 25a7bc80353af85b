//! The database as an operator keeps it: its migrations applied on their own
//! (`migrate`), a backup file written while the server runs (`backup`), a
//! backup loaded into a new database (`restore`), and a district moved
//! between databases, SQLite onto PostgreSQL say (`export`). Backups are the
//! store's dumps; personal data stays encrypted in them, and the key file is
//! what opens it.

use crate::{Db, shown};
use anyhow::Context;
use civicgrid_store::{Actor, ChainCheck, DumpSummary, KeyRing, ListQuery, Store};
use std::path::{Path, PathBuf};
use tokio::io::BufReader;

pub async fn migrate(database: &str, status_only: bool) -> anyhow::Result<()> {
    let s = civicgrid_store::migrate(database, !status_only)
        .await
        .with_context(|| format!("could not migrate {}", shown(database)))?;
    if status_only {
        for (m, state) in s.applied.iter().map(|m| (m, "applied")).chain(s.pending.iter().map(|m| (m, "pending"))) {
            println!("{:04} {}: {state}", m.version, m.description);
        }
        println!("schema at version {}; {} migrations pending", s.version, s.pending.len());
    } else if s.pending.is_empty() {
        println!("nothing to do: schema at version {} ({} migrations applied)", s.version, s.applied.len());
    } else {
        for m in &s.pending {
            println!("applied {:04} {}", m.version, m.description);
        }
        println!("schema at version {}", s.version);
    }
    Ok(())
}

pub async fn backup(store: &dyn Store, out: &Path) -> anyhow::Result<()> {
    let file = create_private(out)?;
    let mut file = tokio::fs::File::from_std(file);
    let written = async {
        let summary = store.dump(&mut file).await?;
        file.sync_all().await?;
        anyhow::Ok(summary)
    };
    let summary = match written.await {
        Ok(s) => s,
        Err(e) => {
            // No half-written file that looks like a backup.
            let _ = std::fs::remove_file(out);
            return Err(e.context(format!("could not write the backup {}", out.display())));
        }
    };
    println!(
        "backed up {} rows of {} tables (schema version {}) to {}",
        summary.rows(),
        summary.tables.len(),
        summary.schema_version,
        out.display()
    );
    println!(
        "personal data is in it encrypted, and its keys are not: keep the database's key file too, \
         as safely and apart from the backup; without it the backup shows no ID or phone number"
    );
    Ok(())
}

/// Creates `path`, refusing to overwrite anything, readable by its owner only.
fn create_private(path: &Path) -> anyhow::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
        .with_context(|| format!("could not create {} (an existing file is not overwritten)", path.display()))
}

/// The key file that opens the database's personal data, if one is there;
/// never created here, as a new key would open nothing that was restored.
fn existing_keys(db: &Db) -> anyhow::Result<(Option<PathBuf>, Option<KeyRing>)> {
    let path = db.key_path();
    let keys = match &path {
        Some(p) if p.exists() => {
            Some(KeyRing::load(p).with_context(|| format!("could not load the key file {}", p.display()))?)
        }
        _ => None,
    };
    Ok((path, keys))
}

pub async fn restore(db: &Db, from: &Path) -> anyhow::Result<()> {
    let (key_path, keys) = existing_keys(db)?;
    let file = tokio::fs::File::open(from).await.with_context(|| format!("could not read {}", from.display()))?;
    let store = civicgrid_store::open(&db.database, keys.clone().unwrap_or_else(KeyRing::ephemeral))
        .await
        .with_context(|| format!("could not open database {}", shown(&db.database)))?;
    let summary = store
        .load_dump(&mut BufReader::with_capacity(1 << 16, file), &Actor::system("restore"))
        .await
        .with_context(|| format!("could not restore {} into {}", from.display(), shown(&db.database)))?;
    println!(
        "restored {} rows of {} tables into {}: a backup of a {} database at schema version {}, made at {}",
        summary.rows(),
        summary.tables.len(),
        shown(&db.database),
        summary.backend,
        summary.schema_version,
        summary.made_at
    );
    check_target(store.as_ref(), key_path.as_deref(), keys.is_some()).await
}

pub async fn export(db: &Db, to: &str) -> anyhow::Result<()> {
    crate::must_exist(&db.database)?;
    let (key_path, keys) = existing_keys(db)?;
    let keys = keys.unwrap_or_else(KeyRing::ephemeral);
    let source = civicgrid_store::open(&db.database, keys.clone())
        .await
        .with_context(|| format!("could not open database {}", shown(&db.database)))?;
    let target =
        civicgrid_store::open(to, keys).await.with_context(|| format!("could not open database {}", shown(to)))?;
    // The dump streams from one to the other through a pipe, never whole in memory.
    let (mut write, read) = tokio::io::duplex(1 << 16);
    let mut read = BufReader::new(read);
    let dumped = async move { source.dump(&mut write).await };
    let by = Actor::system("export");
    let loaded = target.load_dump(&mut read, &by);
    let (dumped, loaded): (DumpSummary, DumpSummary) = tokio::try_join!(dumped, loaded)
        .with_context(|| format!("could not export {} to {}", shown(&db.database), shown(to)))?;
    anyhow::ensure!(dumped.tables == loaded.tables, "the rows loaded differ from the rows read");
    println!(
        "exported {} rows of {} tables (schema version {}) from {} to {}",
        loaded.rows(),
        loaded.tables.len(),
        loaded.schema_version,
        shown(&db.database),
        shown(to)
    );
    let known = key_path.as_deref().is_some_and(Path::exists);
    check_target(target.as_ref(), key_path.as_deref(), known).await?;
    if let Some(k) = key_path.filter(|_| known) {
        println!("serve it with --database {} --key-file {}", shown(to), k.display());
    }
    Ok(())
}

/// After a restore or an export: the audit chain checked end to end, and
/// whether the key file opens the personal data.
async fn check_target(store: &dyn Store, key_path: Option<&Path>, have_keys: bool) -> anyhow::Result<()> {
    match store.verify_audit().await? {
        ChainCheck::Intact { entries } => println!("audit chain intact: {entries} entries"),
        ChainCheck::Broken { seq, reason } => anyhow::bail!("the audit chain is broken at entry {seq}: {reason}"),
    }
    match key_path {
        Some(path) if have_keys => {
            // Listing a resident decrypts the ID number it masks.
            let one = ListQuery { within: None, limit: 1, offset: 0 };
            store.residents(&one, None).await.with_context(|| {
                format!(
                    "the key file {} does not open the personal data: it must be the key file of the database \
                     that was backed up",
                    path.display()
                )
            })?;
            println!("the key file {} opens its personal data", path.display());
        }
        Some(path) => println!(
            "no key file at {}: ID and phone numbers stay unreadable until the key file of the database that was \
             backed up is put there (or named with --key-file)",
            path.display()
        ),
        None => println!(
            "ID and phone numbers open only with the key file of the database that was backed up: name it with \
             --key-file when serving"
        ),
    }
    Ok(())
}
