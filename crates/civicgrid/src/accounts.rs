//! Accounts from the command line: the first administrator of a new
//! installation, and the demo accounts of the demo district.

use crate::Db as DbArgs;
use anyhow::Context;
use civicgrid_domain::access::{check_password, normalise_username};
use civicgrid_domain::{Grant, Role, UnitCode};
use civicgrid_server::auth::password;
use civicgrid_store::{Actor, NewUser, Store};
use std::io::BufRead;

/// The Open311 `api_key` of the demo's outside client (a 12345 hotline system, say).
pub const DEMO_OPEN311_KEY: &str = "demo-open311-key";

/// The demo accounts' password unless `--demo-password` says otherwise.
pub const DEMO_PASSWORD: &str = "demo-password-2026";

/// One account per role, scoped as the README lists them.
pub const DEMO_ACCOUNTS: &[(&str, &str, Role, &str)] = &[
    ("demo-admin", "演示·区管理员", Role::Admin, "610304"),
    ("demo-operator", "演示·指挥中心值班员", Role::Operator, "610304"),
    ("demo-street", "演示·千渭街道干部", Role::StreetStaff, "610304003"),
    ("demo-community", "演示·铁道南社区干部", Role::CommunityStaff, "610304003002"),
    ("demo-gridworker", "演示·铁道南第6网格网格员", Role::GridWorker, "610304003002006"),
    ("demo-responder", "演示·街巷骑士", Role::Responder, "610304003002"),
    ("demo-leader", "演示·包联领导", Role::Leader, "610304003002"),
    ("demo-inspector", "演示·考核员", Role::Inspector, "610304"),
    ("demo-auditor", "演示·审计员", Role::Auditor, "610304"),
    ("demo-resident", "演示·居民", Role::Resident, "610304003002"),
];

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input (one line).
    Create {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: Option<String>,
        /// admin, operator, street_staff, community_staff, grid_worker,
        /// responder, leader, inspector, auditor or resident.
        #[arg(long)]
        role: String,
        /// The unit code the role reaches (and everything below it).
        #[arg(long)]
        scope: String,
    },
}

pub async fn run(cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create { db, username, display_name, role, scope } => {
            let username = normalise_username(&username)?;
            let role: Role = role.parse().map_err(anyhow::Error::msg)?;
            let scope = UnitCode::parse(&scope)?;
            eprintln!("password for {username} (one line on standard input):");
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password).context("could not read the password")?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            check_password(&username, &password)?;
            let store = db.open().await?;
            if store.unit(&scope).await?.is_none() {
                anyhow::bail!("unit {scope} does not exist in {}", crate::shown(&db.database));
            }
            let new = NewUser {
                display_name: display_name.unwrap_or_else(|| username.clone()),
                username,
                password_hash: password::hash(&password),
                grants: vec![Grant { role, scope }],
            };
            let user = store.create_user(&new, &Actor::system("user create")).await?;
            println!("created user {} (id {}) as {} over {}", user.username, user.id, role, new.grants[0].scope);
        }
    }
    Ok(())
}

/// Creates the demo accounts that do not exist yet and prints them all, with
/// the Open311 client's api_key.
pub async fn ensure_demo_accounts(store: &dyn Store, demo_password: &str) -> anyhow::Result<()> {
    println!("demo accounts (synthetic), password {demo_password:?}:");
    ensure(store, demo_password, true).await?;
    ensure_open311_client(store).await?;
    println!("Open311 GeoReport v2 at /open311/v2/, api_key {DEMO_OPEN311_KEY:?}");
    Ok(())
}

/// An account for outside Open311 clients, holding the demo api_key as a token.
async fn ensure_open311_client(store: &dyn Store) -> anyhow::Result<()> {
    let hash = civicgrid_server::auth::sha256_hex(DEMO_OPEN311_KEY);
    if store.token_by_hash(&hash).await?.is_some() {
        return Ok(());
    }
    let system = Actor::system("demo");
    let user = match store.user_by_name("open311-client").await? {
        Some(u) => u,
        None => {
            let new = NewUser {
                username: "open311-client".into(),
                display_name: "演示·Open311 外部系统".into(),
                // Nobody signs in as this account: its password is random and never shown.
                password_hash: password::hash(&civicgrid_server::auth::new_secret()),
                grants: vec![Grant { role: Role::Resident, scope: UnitCode::parse("610304")? }],
            };
            store.create_user(&new, &system).await?
        }
    };
    store.create_token(user.id, "open311", &hash, None, &system).await?;
    Ok(())
}

/// The same without printing, for benchmarks.
pub async fn ensure_demo_accounts_quietly(store: &dyn Store, demo_password: &str) -> anyhow::Result<()> {
    ensure(store, demo_password, false).await
}

async fn ensure(store: &dyn Store, demo_password: &str, print: bool) -> anyhow::Result<()> {
    let hash = password::hash(demo_password);
    for (username, display_name, role, scope) in DEMO_ACCOUNTS {
        check_password(username, demo_password).with_context(|| format!("the demo password for {username}"))?;
        if store.user_by_name(username).await?.is_none() {
            let scope = UnitCode::parse(scope)?;
            let new = NewUser {
                username: (*username).to_owned(),
                display_name: (*display_name).to_owned(),
                password_hash: hash.clone(),
                grants: vec![Grant { role: *role, scope }],
            };
            store.create_user(&new, &Actor::system("demo")).await?;
        }
        if print {
            println!("  {username:<16} {:<16} {scope}", role.as_str());
        }
    }
    link_demo_responders(store).await?;
    register_demo_home(store).await
}

/// demo-resident's registered address: a household of its community, where
/// its calls without a position go.
async fn register_demo_home(store: &dyn Store) -> anyhow::Result<()> {
    let Some(user) = store.user_by_name("demo-resident").await? else { return Ok(()) };
    if !store.call_devices_of_user(user.id).await?.is_empty() {
        return Ok(());
    }
    let Some(seed) = store.setting("demo_seed").await? else { return Ok(()) };
    let Some(scope) =
        DEMO_ACCOUNTS.iter().find(|a| a.0 == "demo-resident").map(|a| UnitCode::parse(a.3)).transpose()?
    else {
        return Ok(());
    };
    let bundle = civicgrid_demo::generate(seed.parse()?);
    if let Some(home) = civicgrid_demo::home_in(&bundle, &scope, "HOME-DEMO-RESIDENT") {
        let new = crate::demo::device_record(home, Some(user.id));
        store.register_call_device(&new, true, &Actor::system("demo")).await?;
    }
    Ok(())
}

/// The demo's answering accounts are responders: demo-gridworker the grid
/// worker of its grid, demo-responder a street rider working in its
/// community. A database written before responders existed gets them first.
async fn link_demo_responders(store: &dyn Store) -> anyhow::Result<()> {
    let mut all = store.responders(None).await?;
    if all.is_empty() {
        let Some(seed) = store.setting("demo_seed").await? else { return Ok(()) };
        let bundle = civicgrid_demo::generate(seed.parse()?);
        crate::demo::add_responders(store, &bundle).await?;
        all = store.responders(None).await?;
    }
    for (username, team) in [("demo-gridworker", "grid_worker"), ("demo-responder", "street_rider")] {
        let Some(user) = store.user_by_name(username).await? else { continue };
        if all.iter().any(|r| r.user_id == Some(user.id)) {
            continue;
        }
        let Some(scope) = DEMO_ACCOUNTS.iter().find(|a| a.0 == username).map(|a| UnitCode::parse(a.3)).transpose()?
        else {
            continue;
        };
        let inside = |r: &&civicgrid_store::ResponderRecord| {
            r.user_id.is_none() && UnitCode::parse(&r.grid).is_ok_and(|g| scope.contains(&g))
        };
        // Its own team in its scope, else in its community, else anyone free in its scope.
        let community = scope.at_level(civicgrid_domain::Level::Community).unwrap_or_else(|| scope.clone());
        let nearby = |r: &&civicgrid_store::ResponderRecord| {
            r.user_id.is_none() && r.team == team && UnitCode::parse(&r.grid).is_ok_and(|g| community.contains(&g))
        };
        let pick = all
            .iter()
            .filter(inside)
            .find(|r| r.team == team)
            .or_else(|| all.iter().find(nearby))
            .or_else(|| all.iter().find(inside));
        if let Some(r) = pick {
            store.link_responder(r.id, Some(user.id), &Actor::system("demo")).await?;
        }
    }
    Ok(())
}
